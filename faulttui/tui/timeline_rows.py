"""The timeline's rows (time ruler, mmap_lock holders and waiters, a thread lane) and its
time window.

Row builders are plain functions of the window and a style lookup, so TimelineView stays a
thin Line API widget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from faulttui.model.timeline import SpanState
from faulttui.tui.lanes import (
    GLYPHS,
    NO_STATE,
    STATE_COLOURS,
    STATE_OF_RANK,
    LockOccupancy,
    column_maxima,
)
from faulttui.tui.timescale import ruler_ticks

LABEL_COLUMNS = 18
"""Columns left of the lanes for the row label (tid and comm, lock name)."""

StyleLookup = Callable[[object, str], Style]
"""style(cache key, rich style definition) -> Style (the view caches and strips colour)."""

LOCK_COLOURS = {"write": "bold white on blue", "read": "black on bright_yellow",
                "waiters": "bold white on red", "free": "grey35"}


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The visible time range: `first_column` columns of `ns_per_column` after `origin_ns`."""

    origin_ns: int
    first_column: int
    ns_per_column: int
    columns: int

    @property
    def start_ns(self) -> int:
        return self.origin_ns + self.first_column * self.ns_per_column

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.columns * self.ns_per_column

    def column_of(self, time_ns: int) -> int:
        return (time_ns - self.start_ns) // self.ns_per_column


def ruler_strip(window: TimeWindow, origin_ns: int, cursor: int, marker_a: int | None,
                marker_b: int | None, style: StyleLookup) -> Strip:
    """Tick labels (offsets from the trace start, unit by zoom), markers A/B, the cursor."""
    cells = [" "] * window.columns
    for column, text in ruler_ticks(window.start_ns, window.ns_per_column, window.columns,
                                    origin_ns):
        for offset, char in enumerate("|" + text):
            if 0 <= column + offset < window.columns:
                cells[column + offset] = char
    for marker_column, char in ((marker_a, "A"), (marker_b, "B")):
        if marker_column is not None and 0 <= marker_column < window.columns:
            cells[marker_column] = char
    ruler_style = style("ruler", "bold")
    segments = [Segment(" time".ljust(LABEL_COLUMNS), ruler_style)]
    if 0 <= cursor < window.columns:
        segments.append(Segment("".join(cells[:cursor]), ruler_style))
        segments.append(Segment(cells[cursor], style("ruler-cursor", "bold reverse")))
        segments.append(Segment("".join(cells[cursor + 1:]), ruler_style))
    else:
        segments.append(Segment("".join(cells), ruler_style))
    return Strip(segments)


def lock_strip(lock: LockOccupancy, window: TimeWindow, cursor: int, holders_row: bool,
               style: StyleLookup) -> Strip:
    """The holders row (W = a writer, a digit = readers) or the waiters row (queue length)."""
    if lock.pending:
        label = f" mmap_lock {lock.mm[-6:]}" if holders_row else "   waiters"
        return Strip([Segment(label.ljust(LABEL_COLUMNS), style("lock-label", "bold")),
                      Segment("…" * window.columns, style("lock-pending", "dim"))])
    if holders_row:
        writers = column_maxima(*lock.writers, window.start_ns, window.ns_per_column,
                                window.columns)
        readers = column_maxima(*lock.readers, window.start_ns, window.ns_per_column,
                                window.columns)
        label = f" mmap_lock {lock.mm[-6:]}"
        cells = ["W" if writer else count_glyph(reader)
                 for writer, reader in zip(writers, readers, strict=True)]
        kinds = ["write" if writer else "read" if reader else "free"
                 for writer, reader in zip(writers, readers, strict=True)]
    else:
        waiters = column_maxima(*lock.waiters, window.start_ns, window.ns_per_column,
                                window.columns)
        label = "   waiters"
        cells = [count_glyph(count) for count in waiters]
        kinds = ["waiters" if count else "free" for count in waiters]
    segments = [Segment(label.ljust(LABEL_COLUMNS), style("lock-label", "bold"))]
    for column, (cell, kind) in enumerate(zip(cells, kinds, strict=True)):
        at_cursor = column == cursor
        definition = LOCK_COLOURS[kind] + (" reverse" if at_cursor else "")
        segments.append(Segment(cell, style(("lock", kind, at_cursor), definition)))
    return Strip(segments).simplify()


def count_glyph(count: int) -> str:
    if count <= 0:
        return "·"
    return str(count) if count < 10 else "+"


def lane_strip(label: str, selected: bool, ranks: list[int], cursor: int,
               fault_span: tuple[int, int] | None, style: StyleLookup) -> Strip:
    """A thread lane: its label, then one glyph per column (runs of equal cells merged); the
    selected fault's columns are underlined, the cursor column reversed."""
    label_style = style(("label", selected), "bold reverse" if selected else "")
    segments = [Segment(label[:LABEL_COLUMNS - 1].ljust(LABEL_COLUMNS - 1) + " ", label_style)]
    run_start = 0
    run_key: tuple[int, bool, bool] | None = None
    for column, rank in enumerate([*ranks, -2]):  # -2: a sentinel that ends the last run
        in_fault = fault_span is not None and fault_span[0] <= column <= fault_span[1]
        cell_key = (rank, column == cursor, in_fault)
        if cell_key != run_key:
            if run_key is not None:
                segments.append(_cells(run_key, column - run_start, style))
            run_key = cell_key
            run_start = column
    return Strip(segments)


def _cells(cell_key: tuple[int, bool, bool], count: int, style: StyleLookup) -> Segment:
    rank, at_cursor, in_fault = cell_key
    if rank == NO_STATE:
        glyph, definition = " ", ""
    else:
        state = STATE_OF_RANK.get(rank, SpanState.USER)
        glyph, definition = GLYPHS[state], STATE_COLOURS[state]
    if in_fault:
        definition += " bold underline"
    if at_cursor:
        definition += " reverse"
    return Segment(glyph * count, style(("cell", *cell_key), definition))
