"""The main screen's status line (pure): what is shown, shortened to the terminal width."""

from __future__ import annotations

from faulttui.model.timeline import Fault
from faulttui.tui.timeline_rows import TimeWindow
from faulttui.tui.timescale import format_duration

SEPARATOR = " │ "


def status_line(window: TimeWindow, cursor_ns: int, marker_a_ns: int | None,
                marker_b_ns: int | None, thread: str, fault: Fault | None, width: int) -> str:
    """Cursor, zoom, view range, thread, fault, markers and B - A. What does not fit in
    `width` is left out, least important first (the view range, then the markers' times)."""
    origin = window.origin_ns
    markers = ""
    if marker_a_ns is not None:
        markers = f"A +{format_duration(marker_a_ns - origin)}"
        if marker_b_ns is not None:
            markers = f"{markers} B +{format_duration(marker_b_ns - origin)}"
    # (text, importance): higher importance survives a narrow terminal
    parts = [
        (f"cursor +{format_duration(cursor_ns - origin)}", 5),
        (f"{format_duration(window.ns_per_column)}/col", 4),
        (f"view +{format_duration(window.start_ns - origin)}"
         f"..+{format_duration(window.end_ns - origin)}", 0),
        (thread, 4),
        (f"fault {fault.address:#x} {format_duration(fault.latency_ns)}"
         if fault is not None else "", 3),
        (markers, 1),
    ]
    if marker_a_ns is not None and marker_b_ns is not None:
        parts.append((f"Δ {format_duration(marker_b_ns - marker_a_ns)}", 4))
    shown = [(text, importance) for text, importance in parts if text]
    while len(SEPARATOR.join(text for text, _ in shown)) > width and len(shown) > 1:
        shown.remove(min(shown, key=lambda part: part[1]))
    return SEPARATOR.join(text for text, _ in shown)
