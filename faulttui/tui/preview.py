"""The preview shown while a big trace still loads (pure, no textual): when to take it and
the banner that says what it is.

The loading worker asks `load_recording` for a preview after `preview_after_s()` seconds of
reconstruction; the main screen shows it with `banner_text` on top, and the full timeline
replaces it when the load is done (see MainScreen.adopt).
"""

from __future__ import annotations

import os

from faulttui.model.timeline import Timeline
from faulttui.tui.timescale import format_duration

PREVIEW_AFTER_S = 1.5
PREVIEW_ENV = "FAULTTUI_PREVIEW_AFTER_S"
"""Seconds of reconstruction before the preview (e.g. 0 to force one; "off" for none)."""


def preview_after_s(value: float | None = None) -> float | None:
    """`value` if given, else $FAULTTUI_PREVIEW_AFTER_S, else PREVIEW_AFTER_S; None: no
    preview ("off" or "none" in the variable)."""
    if value is not None:
        return value
    text = os.environ.get(PREVIEW_ENV, "").strip().lower()
    if text in ("off", "none"):
        return None
    try:
        return max(0.0, float(text)) if text else PREVIEW_AFTER_S
    except ValueError:
        return PREVIEW_AFTER_S


def banner_text(timeline: Timeline, loaded_fraction: float) -> str:
    """E.g. "PREVIEW: first 512 ms of the trace, 1,234 faults; loading the rest... 37%"."""
    shown = format_duration(max(0, timeline.end_ns - timeline.start_ns))
    percent = int(100 * min(max(loaded_fraction, 0.0), 1.0))
    return (f"PREVIEW: first {shown} of the trace, {len(timeline.faults):,} faults; "
            f"loading the rest... {percent}% (compare waits for the full trace)")
