"""The main screen: timeline over (thread list | fault detail), legend, status line, footer.

The screen owns the selection (thread, fault, cursor, markers) and keeps the panes in step;
the widgets only draw and report input.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from faulttui.model.timeline import Fault, LockHold
from faulttui.tui.compare import CompareScreen, PolicyPicker
from faulttui.tui.detail import FaultDetail
from faulttui.tui.help import KEY_HELP, HelpScreen, legend_text
from faulttui.tui.keys import TIMELINE_NAVIGATION
from faulttui.tui.lanes import LockOccupancy, fault_at, lock_occupancy, next_contention, next_fault
from faulttui.tui.search import SearchHit, search
from faulttui.tui.session import TraceSession
from faulttui.tui.status import status_line
from faulttui.tui.thread_list import ThreadList
from faulttui.tui.timeline_view import TimelineView
from faulttui.tui.timescale import format_duration


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *TIMELINE_NAVIGATION,
        Binding("g", "goto_start", "Start", show=False),
        Binding("G", "goto_end", "End", show=False),
        Binding("f", "zoom_fault", "Fit fault"),
        Binding("n", "fault(1)", "Fault"),
        Binding("N", "fault(-1)", "Prev fault", show=False),
        Binding("c", "contention(1)", "Contention"),
        Binding("C", "contention(-1)", "Prev contention", show=False),
        Binding("slash", "search", "Search"),
        Binding("m", "marker", "Marker"),
        Binding("o", "sort", "Sort", show=False),
        Binding("p", "compare", "Compare"),
        Binding("l", "cycle_lock", "Lock lane mm", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "close_search", "Back to the timeline", show=False),
    ]

    def __init__(self, session: TraceSession) -> None:
        super().__init__()
        self.session = session
        timeline = session.timeline
        self.origin_ns = timeline.start_ns
        # First look: the slowest fault of the trace, its thread and its mm's lock lane.
        self.slowest_fault: Fault | None = max(
            timeline.faults, key=lambda fault: (fault.latency_ns, -fault.start_ns), default=None)
        self.selected_fault: Fault | None = self.slowest_fault
        self.selected_tid: int | None = (
            self.slowest_fault.tid if self.slowest_fault is not None
            else timeline.threads[0].tid if timeline.threads else None)
        self.visible_tids: tuple[int, ...] = tuple(lane.tid for lane in timeline.threads)
        self._locks: dict[str, LockOccupancy] = {}
        self.lock_mm: str | None = None  # None: follow the selected thread's mm

    def compose(self) -> ComposeResult:
        timeline = self.session.timeline
        yield TimelineView(timeline.start_ns, timeline.end_ns, id="timeline")
        with Horizontal(id="lower"):
            yield ThreadList(self.session.thread_rows, id="threads")
            yield FaultDetail(self.session.recording.path, self.session.text_source,
                              timeline.start_ns, id="detail")
        yield Static(legend_text(self.app.no_color), id="legend")
        yield Static("", id="status")
        yield Input(placeholder="search: tid, comm or 0xADDRESS (Enter; Esc closes)", id="search")
        yield Footer()

    @property
    def timeline_view(self) -> TimelineView:
        return self.query_one(TimelineView)

    def on_mount(self) -> None:
        self.query_one("#search", Input).display = False
        if self.slowest_fault is not None:
            self.timeline_view.cursor_ns = self.slowest_fault.start_ns
        self._sync_lanes()
        self.timeline_view.focus()
        self._refresh_panes()
        if self.slowest_fault is not None:
            self.notify(f"Selected the slowest fault: {format_duration(self.slowest_fault.latency_ns)}"
                        f" in tid {self.slowest_fault.tid}. Press ? for the keys.", timeout=4)

    # -- keeping the panes in step --------------------------------------------------------

    def _sync_lanes(self) -> None:
        lanes = [self.session.lane_by_tid[tid] for tid in self.visible_tids]
        if self.selected_tid not in self.visible_tids:
            self.selected_tid = self.visible_tids[0] if self.visible_tids else None
        index = self.visible_tids.index(self.selected_tid) if self.selected_tid is not None else 0
        self.timeline_view.set_lanes(lanes, index)

    def _lock_for(self, tid: int | None) -> LockOccupancy | None:
        """The lock lane's mm: the one picked with `l`, else the selected thread's."""
        mm = self.lock_mm or (self.session.mm_by_tid.get(tid) if tid is not None else None)
        if mm is None:
            return None
        lock = self._locks.get(mm)
        if lock is None:
            lock = self._locks[mm] = lock_occupancy(self.session.timeline.mmap_lock_holds, mm)
        return lock

    def _refresh_panes(self) -> None:
        view = self.timeline_view
        view.selected_fault = self.selected_fault
        view.set_lock(self._lock_for(self.selected_tid))
        view.refresh()
        comm = ""
        if self.selected_tid is not None:
            comm = self.session.lane_by_tid[self.selected_tid].comm
            self.query_one(ThreadList).show_thread(self.selected_tid)
        self.query_one(FaultDetail).show_fault(self.selected_fault, comm)
        self.query_one("#status", Static).update(self.status_text(), layout=False)

    def status_text(self) -> str:
        view = self.timeline_view
        thread = (f"tid {self.selected_tid} {self.session.lane_by_tid[self.selected_tid].comm}"
                  if self.selected_tid is not None else "no thread")
        return status_line(view.window, view.cursor_ns, view.marker_a_ns, view.marker_b_ns,
                           thread, self.selected_fault, max(20, self.size.width))

    def select(self, tid: int | None, fault: Fault | None = None,
               cursor_ns: int | None = None) -> None:
        view = self.timeline_view
        if tid is not None and tid in self.visible_tids:
            self.selected_tid = tid
            view.selected_index = self.visible_tids.index(tid)
            view.scroll_to_selected()
        self.selected_fault = fault
        if cursor_ns is not None:
            view.cursor_ns = view.clamp(cursor_ns)
            view.ensure_visible(view.cursor_ns)
        self._refresh_panes()

    def _fault_under_cursor(self, tid: int | None, tolerance_ns: int = 0) -> Fault | None:
        if tid is None:
            return None
        faults = self.session.faults_by_tid.get(tid, [])
        return fault_at(faults, self.timeline_view.cursor_ns, tolerance_ns)

    # -- messages from the widgets --------------------------------------------------------

    @on(ThreadList.OrderChanged)
    def _order_changed(self, message: ThreadList.OrderChanged) -> None:
        self.visible_tids = message.tids
        self._sync_lanes()
        self._refresh_panes()

    @on(ThreadList.ThreadChosen)
    def _thread_chosen(self, message: ThreadList.ThreadChosen) -> None:
        if message.tid != self.selected_tid:
            self.select(message.tid, self._fault_under_cursor(message.tid))

    @on(TimelineView.Clicked)
    def _timeline_clicked(self, message: TimelineView.Clicked) -> None:
        self.timeline_view.cursor_ns = message.time_ns
        tid = message.tid if message.tid is not None else self.selected_tid
        self.select(tid, self._fault_under_cursor(tid, message.ns_per_column))

    @on(TimelineView.Resized)
    def _timeline_resized(self) -> None:
        self._refresh_panes()

    @on(TimelineView.PanStep)
    def _pan_step(self, message: TimelineView.PanStep) -> None:
        self.action_pan(message.direction)

    @on(TimelineView.LaneStep)
    def _lane_step(self, message: TimelineView.LaneStep) -> None:
        self.action_lane(message.delta)

    @on(TimelineView.CursorStep)
    def _cursor_step(self, message: TimelineView.CursorStep) -> None:
        self.timeline_view.step_cursor(message.columns)
        self.select(self.selected_tid, self._fault_under_cursor(self.selected_tid))

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
        view.cursor_ns = fault.start_ns
        view.center_on((fault.start_ns + fault.end_ns) // 2, -(-span // view.data_columns))
        self._refresh_panes()

    def action_fault(self, direction: int) -> None:
        if self.selected_tid is None:
            return
        faults = self.session.faults_by_tid.get(self.selected_tid, [])
        after = self.timeline_view.cursor_ns
        fault = next_fault(faults, after, forward=direction > 0)
        if fault is None:
            self.notify("no more faults in this thread", severity="warning")
            return
        self.select(self.selected_tid, fault, fault.start_ns)

    def action_contention(self, direction: int) -> None:
        hold = next_contention(self.session.contentions, self.timeline_view.cursor_ns,
                               forward=direction > 0)
        if hold is None:
            self.notify("no more mmap_lock contention", severity="warning")
            return
        self._select_hold(hold)

    def _select_hold(self, hold: LockHold) -> None:
        fault = self.session.fault_by_id.get(hold.fault_id) if hold.fault_id >= 0 else None
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

    def action_compare(self) -> None:
        def open_compare(policies: list[str] | None) -> None:
            if policies:
                self.app.push_screen(CompareScreen(
                    self.session, policies, selected_tid=self.selected_tid,
                    cursor_ns=self.timeline_view.cursor_ns))

        self.app.push_screen(PolicyPicker(), open_compare)

    def action_quit(self) -> None:
        self.app.exit(return_code=0)

    def action_cycle_lock(self) -> None:
        """Show the next mm's mmap_lock (busiest first), then follow the thread again."""
        choices: list[str | None] = [*self.session.mms_by_activity, None]
        self.lock_mm = choices[(choices.index(self.lock_mm) + 1) % len(choices)]
        self.notify(f"lock lane: mm {self.lock_mm}" if self.lock_mm is not None
                    else "lock lane: the selected thread's mm", timeout=2)
        self._refresh_panes()

    def action_sort(self) -> None:
        self.query_one(ThreadList).cycle_sort()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(KEY_HELP))

    def action_search(self) -> None:
        search_input = self.query_one("#search", Input)
        search_input.display = True
        search_input.value = ""
        search_input.focus()

    def action_close_search(self) -> None:
        """Escape: close the search box, or leave the filter box / thread table for the
        timeline, so the single-letter keys work again."""
        search_input = self.query_one("#search", Input)
        search_input.display = False
        self.timeline_view.focus()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.action_close_search()
        hit: SearchHit | None = search(self.session, event.value, self.visible_tids)
        if hit is None:
            self.notify(f"nothing matches {event.value!r}", severity="warning")
            return
        if hit.tid not in self.visible_tids:
            self.notify(f"tid {hit.tid} is filtered out of the thread list", severity="warning")
        cursor = hit.fault.start_ns if hit.fault is not None else None
        self.select(hit.tid, hit.fault, cursor)
