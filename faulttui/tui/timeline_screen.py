"""What the main and compare screens share: the selection (thread, fault, cursor, markers),
the timeline keys and mouse, `/` search and the help screen.

A subclass says which view leads the time axis, which timeline a view draws, where the
keys look for faults, and how to redraw its panes after a change.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.screen import Screen

from faulttui.model.timeline import Fault, LockHold, Timeline
from faulttui.tui.help import KEY_HELP, HelpScreen
from faulttui.tui.lanes import (
    LockOccupancy,
    fault_at,
    lock_occupancy,
    next_contention,
    next_fault,
    pending_occupancy,
)
from faulttui.tui.messages import LockComputed
from faulttui.tui.search import search
from faulttui.tui.search_box import SearchBox
from faulttui.tui.timeline_index import TimelineIndex
from faulttui.tui.timeline_view import TimelineView
from faulttui.tui.timescale import format_duration


class TimelineScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "zoom(-1)", "Zoom in"),
        Binding("plus", "zoom(-1)", "Zoom in", show=False),
        Binding("s", "zoom(1)", "Zoom out"),
        Binding("minus", "zoom(1)", "Zoom out", show=False),
        Binding("a", "pan(-1)", "Pan"),
        Binding("d", "pan(1)", "Pan", show=False),
        Binding("j", "lane(1)", "Thread"),
        Binding("k", "lane(-1)", "Thread", show=False),
        Binding("g", "goto_start", "Start", show=False),
        Binding("G", "goto_end", "End", show=False),
        Binding("f", "zoom_fault", "Fit fault"),
        Binding("n", "fault(1)", "Fault"),
        Binding("N", "fault(-1)", "Prev fault", show=False),
        Binding("c", "contention(1)", "Contention"),
        Binding("C", "contention(-1)", "Prev contention", show=False),
        Binding("slash", "search", "Search"),
        Binding("m", "marker", "Marker"),
        Binding("question_mark", "help", "Help"),
    ]
    KEY_HELP: ClassVar[tuple[tuple[str, str], ...]] = KEY_HELP

    def __init__(self) -> None:
        super().__init__()
        self.selected_tid: int | None = None
        self.selected_fault: Fault | None = None  # a fault of `active_index`'s timeline
        self.visible_tids: tuple[int, ...] = ()
        self._locks: dict[tuple[str, str], LockOccupancy] = {}  # by (timeline name, mm)

    # -- what a subclass provides ---------------------------------------------------------

    @property
    def timeline_view(self) -> TimelineView:
        """The view whose time axis, cursor and markers lead."""
        raise NotImplementedError

    @property
    def active_index(self) -> TimelineIndex:
        """The timeline where fault, contention and search keys look."""
        raise NotImplementedError

    def _refresh_panes(self) -> None:
        raise NotImplementedError

    def _lane_selected(self) -> None:
        """The selected thread changed (the main screen scrolls its lane into view)."""

    def _pane_clicked(self, view: TimelineView) -> None:
        """A view was clicked before its thread and time are selected."""

    def focus_timeline(self) -> None:
        self.timeline_view.focus()

    # -- mmap_lock lanes ------------------------------------------------------------------

    def lock_for(self, timeline: Timeline, mm: str | None) -> LockOccupancy | None:
        """`mm`'s mmap_lock in `timeline`; tens of ms for a busy mm in a big trace, so it is
        computed in a worker and drawn as pending until then."""
        if mm is None:
            return None
        key = (timeline.name, mm)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = pending_occupancy(mm)
            # after the next frame: a worker holding the GIL would hold that frame back
            self.call_after_refresh(self.compute_lock, timeline, key)
        return lock

    # a description: by default Textual would repr() the arguments, a whole Timeline (seconds)
    @work(thread=True, group="locks", exit_on_error=False, description="mmap_lock occupancy")
    def compute_lock(self, timeline: Timeline, key: tuple[str, str]) -> None:
        self.post_message(LockComputed(key, lock_occupancy(timeline.mmap_lock_holds, key[1])))

    def on_lock_computed(self, message: LockComputed) -> None:
        self._locks[message.key] = message.lock
        self._refresh_panes()

    # -- the selection --------------------------------------------------------------------

    def select(self, tid: int | None, fault: Fault | None = None,
               cursor_ns: int | None = None) -> None:
        view = self.timeline_view
        if tid is not None and tid in self.visible_tids:
            self.selected_tid = tid
            self._lane_selected()
        self.selected_fault = fault
        if cursor_ns is not None:
            view.cursor_ns = view.clamp(cursor_ns)
            view.ensure_visible(view.cursor_ns)
        self._refresh_panes()

    def _fault_under_cursor(self, tid: int | None, tolerance_ns: int = 0) -> Fault | None:
        if tid is None:
            return None
        faults = self.active_index.faults_by_tid.get(tid, [])
        return fault_at(faults, self.timeline_view.cursor_ns, tolerance_ns)

    # -- messages from the widgets --------------------------------------------------------

    @on(TimelineView.Clicked)
    def _timeline_clicked(self, message: TimelineView.Clicked) -> None:
        self._pane_clicked(message.view)
        view = self.timeline_view
        view.cursor_ns = view.clamp(message.time_ns)
        tid = message.tid if message.tid is not None else self.selected_tid
        self.select(tid, self._fault_under_cursor(tid, message.ns_per_column))

    @on(TimelineView.PanStep)
    def _pan_step(self, message: TimelineView.PanStep) -> None:
        self.action_pan(message.direction)

    @on(TimelineView.ZoomStep)
    def _zoom_step(self, message: TimelineView.ZoomStep) -> None:
        self.action_zoom(message.direction)

    @on(TimelineView.LaneStep)
    def _lane_step(self, message: TimelineView.LaneStep) -> None:
        self.action_lane(message.delta)

    @on(TimelineView.CursorStep)
    def _cursor_step(self, message: TimelineView.CursorStep) -> None:
        self.timeline_view.step_cursor(message.columns)
        self.select(self.selected_tid, self._fault_under_cursor(self.selected_tid))

    @on(SearchBox.Closed)
    def _search_closed(self) -> None:
        self.focus_timeline()

    @on(SearchBox.Query)
    def _search_query(self, message: SearchBox.Query) -> None:
        hit = search(self.active_index, message.text, self.visible_tids)
        if hit is None:
            self.notify(f"nothing matches {message.text!r}", severity="warning")
            return
        if hit.tid not in self.visible_tids:
            self.notify(f"tid {hit.tid} is filtered out of the thread list", severity="warning")
        self.select(hit.tid, hit.fault, hit.fault.start_ns if hit.fault is not None else None)

    # -- actions ------------------------------------------------------------------------

    def action_zoom(self, direction: int) -> None:
        self.timeline_view.zoom(direction)
        self._refresh_panes()

    def action_pan(self, direction: int) -> None:
        self.timeline_view.pan(direction)
        self._refresh_panes()

    def action_lane(self, delta: int) -> None:
        if not self.visible_tids:
            return
        index = (self.visible_tids.index(self.selected_tid)
                 if self.selected_tid in self.visible_tids else 0)
        index = min(max(index + delta, 0), len(self.visible_tids) - 1)
        tid = self.visible_tids[index]
        self.select(tid, self._fault_under_cursor(tid))

    def action_goto_start(self) -> None:
        self.select(self.selected_tid, None, self.timeline_view.origin_ns)

    def action_goto_end(self) -> None:
        self.select(self.selected_tid, None, self.timeline_view.end_ns - 1)

    def action_zoom_fault(self) -> None:
        fault = self.selected_fault
        if fault is None:
            self.notify("no fault selected (n/N, c/C or click a lane)", severity="warning")
            return
        view = self.timeline_view
        span = max(1, fault.latency_ns) * 3 // 2
        view.cursor_ns = view.clamp(fault.start_ns)
        view.center_on((fault.start_ns + fault.end_ns) // 2, -(-span // view.data_columns))
        self._refresh_panes()

    def action_fault(self, direction: int) -> None:
        if self.selected_tid is None:
            return
        faults = self.active_index.faults_by_tid.get(self.selected_tid, [])
        fault = next_fault(faults, self.timeline_view.cursor_ns, forward=direction > 0)
        if fault is None:
            self.notify("no more faults in this thread", severity="warning")
            return
        self.select(self.selected_tid, fault, fault.start_ns)

    def action_contention(self, direction: int) -> None:
        hold = next_contention(self.active_index.contentions, self.timeline_view.cursor_ns,
                               forward=direction > 0)
        if hold is None:
            self.notify("no more mmap_lock contention", severity="warning")
            return
        self._select_hold(hold)

    def _select_hold(self, hold: LockHold) -> None:
        fault = self.active_index.fault_by_id.get(hold.fault_id) if hold.fault_id >= 0 else None
        if hold.tid not in self.visible_tids:
            self.notify(f"tid {hold.tid} is filtered out of the thread list", severity="warning")
        self.select(hold.tid, fault, hold.request_ns)
        self.notify(f"tid {hold.tid} waited {format_duration(hold.wait_ns)} for mmap_lock "
                    f"{'write' if hold.write else 'read'} ({hold.purpose})", timeout=3)

    def action_marker(self) -> None:
        view = self.timeline_view
        if view.marker_a_ns is None or view.marker_b_ns is not None:
            view.marker_a_ns, view.marker_b_ns = view.cursor_ns, None
        else:
            view.marker_b_ns = view.cursor_ns
        self._refresh_panes()

    def action_search(self) -> None:
        self.query_one(SearchBox).open()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.KEY_HELP))
