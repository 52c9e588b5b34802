"""Time formatting and ruler ticks whose units adapt to the zoom (pure; no textual)."""

from __future__ import annotations

_UNITS: tuple[tuple[int, str], ...] = ((1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "µs"),
                                       (1, "ns"))


def unit_for(scale_ns: int) -> tuple[int, str]:
    """The largest unit not bigger than `scale_ns` (ns for anything below a microsecond)."""
    for size, name in _UNITS:
        if scale_ns >= size:
            return size, name
    return 1, "ns"


def format_duration(duration_ns: int) -> str:
    """A duration with 3 significant-ish digits in the unit that suits it: 1.25 ms, 870 ns."""
    size, name = unit_for(abs(duration_ns))
    if size == 1:
        return f"{duration_ns} ns"
    value = duration_ns / size
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:.{digits}f} {name}"


def format_offset(offset_ns: int, step_ns: int) -> str:
    """An offset from the trace start, printed as precisely as a ruler step of `step_ns` needs."""
    size, name = unit_for(step_ns)
    decimals = 0
    while (step_ns * 10**decimals) % size:
        decimals += 1
    return f"{offset_ns / size:.{decimals}f}{name}"


def nice_step(min_step_ns: float) -> int:
    """The smallest 1-2-5 x 10^k nanoseconds that is at least `min_step_ns`."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step >= min_step_ns:
                return step
        magnitude *= 10


def ruler_ticks(view_start_ns: int, ns_per_column: int, columns: int, origin_ns: int,
                label_columns: int = 12) -> list[tuple[int, str]]:
    """(column, label) for each tick in view; labels are offsets from `origin_ns`."""
    if columns <= 0:
        return []
    step = nice_step(ns_per_column * label_columns)
    first_offset = view_start_ns - origin_ns
    tick_offset = -(-first_offset // step) * step  # first multiple of step at or after the start
    ticks = []
    view_end_offset = first_offset + ns_per_column * columns
    while tick_offset < view_end_offset:
        column = (tick_offset - first_offset) // ns_per_column
        ticks.append((column, format_offset(tick_offset, step)))
        tick_offset += step
    return ticks
