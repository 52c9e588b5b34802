"""The timeline: a ruler, the mmap_lock lanes of the selected thread's mm, one lane per thread.

A Line API widget (ScrollView + render_line) like textual's Log: nothing is laid out per
span; each visible line is computed on demand from bisects over the lane's span arrays and
kept in LRU caches keyed by everything that changes it. The view start is always a whole
number of columns from the trace start, so per-column results are cached in aligned blocks
that survive panning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from faulttui.model.timeline import Fault, ThreadLane
from faulttui.tui.lanes import LockOccupancy, column_ranks, importance_ranks
from faulttui.tui.timeline_rows import (
    LABEL_COLUMNS,
    TimeWindow,
    lane_strip,
    lock_strip,
    ruler_strip,
)

BLOCK_COLUMNS = 64


class TimelineView(ScrollView, can_focus=True):
    """Lanes of thread states over time. The screen owns the selection; this widget draws it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "lane(-1)", "Thread up", show=False),
        Binding("down", "lane(1)", "Thread down", show=False),
        Binding("left", "cursor(-1)", "Cursor left", show=False),
        Binding("right", "cursor(1)", "Cursor right", show=False),
    ]

    class Clicked(Message):
        """The user clicked a lane (tid, or None for the ruler/lock rows) at a time."""

        def __init__(self, view: TimelineView, tid: int | None, time_ns: int,
                     ns_per_column: int) -> None:
            super().__init__()
            self.view = view
            self.tid = tid
            self.time_ns = time_ns
            self.ns_per_column = ns_per_column

    class Resized(Message):
        """The number of columns (so the visible time range) changed."""

    class PanStep(Message):
        """Shift + mouse wheel: pan the time axis (the plain wheel scrolls lanes)."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    class ZoomStep(Message):
        """Ctrl + mouse wheel: zoom (wheel up zooms in)."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    class LaneStep(Message):
        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    class CursorStep(Message):
        def __init__(self, columns: int) -> None:
            super().__init__()
            self.columns = columns

    def __init__(self, origin_ns: int, end_ns: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.origin_ns = origin_ns
        self.end_ns = max(end_ns, origin_ns + 1)
        self.lanes: Sequence[ThreadLane] = ()
        self.selected_index = 0
        self.cursor_ns = origin_ns
        self.marker_a_ns: int | None = None
        self.marker_b_ns: int | None = None
        self.selected_fault: Fault | None = None
        self.lock_occupancy: LockOccupancy | None = None
        self.first_column = 0
        self.ns_per_column = 0  # 0 until the first layout fits the trace to the width
        self._known_lanes: dict[int, ThreadLane] = {}
        self._ranks: dict[int, bytes] = {}
        self._block_cache: LRUCache[tuple[int, int, int, int], list[int]] = LRUCache(8192)
        self._line_cache: LRUCache[tuple[object, ...], Strip] = LRUCache(2048)
        self._styles: dict[object, Style] = {}

    # -- geometry -------------------------------------------------------------------------

    @property
    def header_rows(self) -> int:
        return 1 + (2 if self.lock_occupancy is not None else 0)

    @property
    def data_columns(self) -> int:
        return max(1, self.scrollable_content_region.width - LABEL_COLUMNS)

    @property
    def window(self) -> TimeWindow:
        return TimeWindow(self.origin_ns, self.first_column, max(1, self.ns_per_column),
                          self.data_columns)

    def fit_ns_per_column(self) -> int:
        return max(1, -(-(self.end_ns - self.origin_ns) // self.data_columns))

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width,
                                 self.header_rows + len(self.lanes))

    def on_resize(self, event: events.Resize) -> None:
        if self.ns_per_column == 0:
            self.ns_per_column = self.fit_ns_per_column()
        self._update_virtual_size()
        self.refresh()
        self.post_message(self.Resized())

    # -- state changes (called by the screen) ----------------------------------------------

    def set_lanes(self, lanes: Sequence[ThreadLane], selected_index: int) -> None:
        # Caches are keyed by id(lane) (the compare view swaps in another replay's lanes with
        # the same tids); keeping every lane ever shown alive means an id is never reused.
        for lane in lanes:
            self._known_lanes.setdefault(id(lane), lane)
        self.lanes = lanes
        self.selected_index = selected_index
        self._update_virtual_size()
        self.scroll_to_selected()
        self.refresh()

    def set_lock(self, lock: LockOccupancy | None) -> None:
        if lock is not self.lock_occupancy:
            self.lock_occupancy = lock
            self._update_virtual_size()
            self.refresh()

    def set_view(self, first_column: int, ns_per_column: int) -> None:
        self.ns_per_column = max(1, ns_per_column)
        last_first = (self.end_ns - self.origin_ns) // self.ns_per_column
        self.first_column = min(max(first_column, 0), max(0, last_first))
        self.refresh()

    def extend_to(self, end_ns: int) -> None:
        """The trace now ends at `end_ns` (the full timeline replaced a preview): the zoom and
        position stay, unless the view still fitted the whole of it, then it fits the new."""
        fitted = self.first_column == 0 and self.ns_per_column == self.fit_ns_per_column()
        self.end_ns = max(end_ns, self.origin_ns + 1)
        if fitted:
            self.set_view(0, self.fit_ns_per_column())
        self.refresh()

    def center_on(self, time_ns: int, ns_per_column: int | None = None) -> None:
        npc = max(1, ns_per_column or self.ns_per_column)
        column = (time_ns - self.origin_ns) // npc
        self.set_view(column - self.data_columns // 2, npc)

    def ensure_visible(self, time_ns: int) -> None:
        window = self.window
        if not window.start_ns <= time_ns < window.end_ns:
            self.center_on(time_ns)

    def zoom(self, direction: int, factor: int = 2) -> None:
        """Zoom in (direction < 0) or out around the cursor, keeping its column in place."""
        window = self.window
        if direction < 0:
            ns_per_column = max(1, window.ns_per_column // factor)
        else:
            ns_per_column = min(self.fit_ns_per_column(), window.ns_per_column * factor)
        cursor_column = max(0, min(window.column_of(self.cursor_ns), window.columns - 1))
        self.set_view((self.cursor_ns - self.origin_ns) // ns_per_column - cursor_column,
                      ns_per_column)

    def pan(self, direction: int) -> None:
        """Move the view a quarter of its width; the cursor moves with it."""
        window = self.window
        self.set_view(window.first_column + max(1, window.columns // 4) * direction,
                      window.ns_per_column)
        moved = self.first_column - window.first_column
        self.cursor_ns = self.clamp(self.cursor_ns + moved * window.ns_per_column)

    def step_cursor(self, columns: int) -> None:
        """Move the cursor by whole columns; the view follows it past either edge."""
        window = self.window
        self.cursor_ns = self.clamp(self.cursor_ns + columns * window.ns_per_column)
        if self.cursor_ns < window.start_ns:
            self.set_view(window.column_of(self.cursor_ns) + window.first_column,
                          window.ns_per_column)
        elif self.cursor_ns >= window.end_ns:
            self.set_view(window.first_column + window.column_of(self.cursor_ns)
                          - window.columns + 1, window.ns_per_column)

    def clamp(self, time_ns: int) -> int:
        return min(max(time_ns, self.origin_ns), self.end_ns)

    def copy_view_from(self, other: TimelineView) -> None:
        """Share another view's time axis and cursor (the compare view's stacked lanes)."""
        self.cursor_ns = other.cursor_ns
        self.marker_a_ns, self.marker_b_ns = other.marker_a_ns, other.marker_b_ns
        self.set_view(other.first_column, other.ns_per_column)

    def scroll_to_selected(self) -> None:
        visible_lanes = max(1, self.scrollable_content_region.height - self.header_rows)
        top = int(self.scroll_y)
        if self.selected_index < top:
            self.scroll_to(y=self.selected_index, animate=False, immediate=True, force=True)
        elif self.selected_index >= top + visible_lanes:
            self.scroll_to(y=self.selected_index - visible_lanes + 1, animate=False,
                           immediate=True, force=True)

    # -- input --------------------------------------------------------------------------

    def action_lane(self, delta: int) -> None:
        self.post_message(self.LaneStep(delta))

    def action_cursor(self, columns: int) -> None:
        self.post_message(self.CursorStep(columns))

    def _wheel(self, event: events.MouseScrollDown | events.MouseScrollUp, direction: int) -> None:
        if event.ctrl:
            event.stop()
            self.post_message(self.ZoomStep(direction))
        elif event.shift:
            event.stop()
            self.post_message(self.PanStep(direction))

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, 1)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, -1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.x < LABEL_COLUMNS:
            return
        window = self.window
        time_ns = window.start_ns + (offset.x - LABEL_COLUMNS) * window.ns_per_column
        time_ns += window.ns_per_column // 2
        tid = None
        if offset.y >= self.header_rows:
            index = int(self.scroll_y) + offset.y - self.header_rows
            if 0 <= index < len(self.lanes):
                tid = self.lanes[index].tid
        self.post_message(self.Clicked(self, tid, time_ns, window.ns_per_column))

    # -- rendering ----------------------------------------------------------------------

    def _style(self, key: object, definition: str) -> Style:
        style = self._styles.get(key)
        if style is None:
            style = Style.parse(definition)
            if self.app.no_color:
                style = Style(bold=style.bold, reverse=style.reverse,
                              underline=style.underline, dim=style.dim)
            self._styles[key] = style
        return style

    def _lane_ranks(self, lane: ThreadLane) -> list[int]:
        """Per-column importance ranks of the visible window, assembled from cached blocks."""
        window = self.window
        ranks = self._ranks.get(id(lane))
        if ranks is None:
            ranks = self._ranks[id(lane)] = importance_ranks(lane)
        first_block = window.first_column // BLOCK_COLUMNS
        last_block = (window.first_column + window.columns - 1) // BLOCK_COLUMNS
        values: list[int] = []
        for block in range(first_block, last_block + 1):
            key = (id(lane), window.origin_ns, window.ns_per_column, block)
            cached = self._block_cache.get(key)
            if cached is None:
                block_start = self.origin_ns + block * BLOCK_COLUMNS * window.ns_per_column
                cached = column_ranks(lane.span_starts, lane.span_ends, ranks, block_start,
                                      window.ns_per_column, BLOCK_COLUMNS)
                self._block_cache[key] = cached
            values.extend(cached)
        offset = window.first_column - first_block * BLOCK_COLUMNS
        return values[offset:offset + window.columns]

    def _marks(self) -> tuple[int, int | None, int | None]:
        window = self.window
        marker_a = None if self.marker_a_ns is None else window.column_of(self.marker_a_ns)
        marker_b = None if self.marker_b_ns is None else window.column_of(self.marker_b_ns)
        return window.column_of(self.cursor_ns), marker_a, marker_b

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base_style = self.rich_style  # every segment gets a style: NO_COLOR's filter needs one
        if self.ns_per_column == 0:
            return Strip.blank(width, base_style)
        window = self.window
        cursor, marker_a, marker_b = self._marks()
        if y == 0:
            key: tuple[object, ...] = ("ruler", window, cursor, marker_a, marker_b, base_style)
        elif y < self.header_rows:
            key = ("lock", y, window, cursor, id(self.lock_occupancy), base_style)
        else:
            index = int(self.scroll_y) + y - self.header_rows
            if not 0 <= index < len(self.lanes):
                return Strip.blank(width, base_style)
            lane = self.lanes[index]
            fault = self.selected_fault
            fault_span = None
            if fault is not None and fault.tid == lane.tid:
                fault_span = (window.column_of(fault.start_ns), window.column_of(fault.end_ns))
            key = ("lane", id(lane), index == self.selected_index, window, cursor, fault_span,
                   base_style)
        strip = self._line_cache.get(key)
        if strip is None:
            if y == 0:
                strip = self._render_ruler(y, cursor, marker_a, marker_b)
            elif y < self.header_rows:
                strip = self._render_lock_row(y, cursor, marker_a, marker_b)
            else:
                strip = self._render_lane(self.lanes[int(self.scroll_y) + y - self.header_rows],
                                          key[2] is True, cursor, fault_span)
            strip = strip.apply_style(base_style)
            self._line_cache[key] = strip
        return strip.crop_extend(0, width, base_style)

    def _render_lane(self, lane: ThreadLane, selected: bool, cursor: int,
                     fault_span: tuple[int, int] | None) -> Strip:
        label = f"{'>' if selected else ' '}{lane.tid} {lane.comm}"
        return lane_strip(label, selected, self._lane_ranks(lane), cursor, fault_span,
                          self._style)

    def _render_ruler(self, y: int, cursor: int, marker_a: int | None,
                      marker_b: int | None) -> Strip:
        return ruler_strip(self.window, self.origin_ns, cursor, marker_a, marker_b, self._style)

    def _render_lock_row(self, y: int, cursor: int, marker_a: int | None,
                         marker_b: int | None) -> Strip:
        assert self.lock_occupancy is not None
        return lock_strip(self.lock_occupancy, self.window, cursor, y == 1, self._style)
