"""The main screen: timeline over (thread list | fault detail), legend, status line, footer.

The screen owns the selection (thread, fault, cursor, markers; see TimelineScreen) and keeps
the panes in step; the widgets only draw and report input. The first frame needs only the
recording: the thread list's numbers and the lookup indexes are computed in a worker after it.
A big trace is first shown as a preview (a banner says so) and the full timeline replaces it
in place (`adopt`), so the selection, cursor, markers, zoom and thread filter stay.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from faulttui.model.metrics import compute_metrics
from faulttui.tui.compare import CompareScreen
from faulttui.tui.detail import FaultDetail, describe_span
from faulttui.tui.help import legend_text
from faulttui.tui.lanes import LockOccupancy
from faulttui.tui.messages import ThreadMetricsReady
from faulttui.tui.policy_picker import PolicyPicker
from faulttui.tui.preview import banner_text
from faulttui.tui.search_box import SearchBox
from faulttui.tui.session import TraceSession, placeholder_rows, thread_rows
from faulttui.tui.status import status_line
from faulttui.tui.thread_list import ThreadList
from faulttui.tui.timeline_index import TimelineIndex
from faulttui.tui.timeline_screen import TimelineScreen
from faulttui.tui.timeline_view import TimelineView
from faulttui.tui.timescale import format_duration


class MainScreen(TimelineScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "sort", "Sort", show=False),
        Binding("p", "compare", "Compare"),
        Binding("l", "cycle_lock", "Lock lane mm", show=False),
        Binding("q", "quit", "Quit"),
        Binding("escape", "focus_timeline", "Back to the timeline", show=False),
    ]

    def __init__(self, session: TraceSession) -> None:
        super().__init__()
        self.session = session
        timeline = session.timeline
        self.origin_ns = timeline.start_ns
        # First look: the slowest fault of the trace, its thread and its mm's lock lane.
        self.slowest_fault = session.slowest_fault
        self.selected_fault = self.slowest_fault
        self.selected_tid = (
            self.slowest_fault.tid if self.slowest_fault is not None
            else timeline.threads[0].tid if timeline.threads else None)
        self.visible_tids = tuple(lane.tid for lane in timeline.threads)
        self.lock_mm: str | None = None  # None: follow the selection's mm
        self.loaded_fraction = session.recording.loaded_fraction

    def compose(self) -> ComposeResult:
        timeline = self.session.timeline
        banner = Static(banner_text(timeline, self.loaded_fraction), id="preview-banner")
        banner.display = self.is_preview
        yield banner
        yield TimelineView(timeline.start_ns, timeline.end_ns, id="timeline")
        with Horizontal(id="lower"):
            yield ThreadList(placeholder_rows(timeline), id="threads")
            yield FaultDetail(self.session.recording.path, self.session.text_source,
                              timeline.start_ns, id="detail")
        yield Static(legend_text(self.app.no_color), id="legend")
        yield Static("", id="status")
        yield SearchBox(id="search")
        yield Footer()

    @property
    def timeline_view(self) -> TimelineView:
        return self.query_one(TimelineView)

    @property
    def active_index(self) -> TimelineIndex:
        return self.session

    @property
    def is_preview(self) -> bool:
        """Showing a preview: the trace is still loading."""
        return self.session.recording.partial

    def on_mount(self) -> None:
        if self.slowest_fault is not None:
            self.timeline_view.cursor_ns = self.slowest_fault.start_ns
        self._sync_lanes()
        self.timeline_view.focus()
        self._refresh_panes()
        if not self.is_preview:  # a preview's numbers would slow the load (the GIL) for
            self.call_after_refresh(self.compute_thread_metrics)  # a part of the trace
        if self.slowest_fault is not None:
            self.notify(f"Selected the slowest fault: {format_duration(self.slowest_fault.latency_ns)}"
                        f" in tid {self.slowest_fault.tid}. Press ? for the keys.", timeout=4)

    @work(thread=True, exclusive=True, group="thread-metrics", exit_on_error=False)
    def compute_thread_metrics(self) -> None:
        timeline = self.session.timeline
        rows = thread_rows(timeline, compute_metrics(timeline))
        if get_current_worker().is_cancelled:  # the full timeline replaced a preview meanwhile
            return
        self.post_message(ThreadMetricsReady(rows))
        self.session.warm()  # the first n, c or / then finds its index built

    def on_thread_metrics_ready(self, message: ThreadMetricsReady) -> None:
        self.query_one(ThreadList).set_rows(message.rows)

    # -- preview, then the full timeline ---------------------------------------------------

    def show_loading(self, loaded_fraction: float) -> None:
        """The load went on: a preview's banner shows how far, redrawn only when its whole
        percent changes (each redraw takes the GIL from the loading worker)."""
        if self.is_preview and int(100 * loaded_fraction) != int(100 * self.loaded_fraction):
            self.loaded_fraction = loaded_fraction
            self.query_one("#preview-banner", Static).update(
                banner_text(self.session.timeline, loaded_fraction), layout=False)

    def adopt(self, session: TraceSession) -> None:
        """The full timeline replaces the preview. The selected thread, its fault (by id),
        cursor, markers, zoom, thread filter and sort stay; a view that still fitted the whole
        preview fits the whole trace."""
        fault = self.selected_fault
        self.session = session
        self._locks.clear()  # by timeline name: the preview's is "preview"
        self.selected_fault = (session.find_fault(fault.fault_id)
                               if fault is not None else None)
        self.timeline_view.extend_to(session.timeline.end_ns)
        self.query_one("#preview-banner", Static).display = False
        self._sync_lanes()  # the same tids, now the full timeline's lanes
        self.query_one(ThreadList).set_rows(placeholder_rows(session.timeline))  # + new threads
        self._refresh_panes()
        self.call_after_refresh(self.compute_thread_metrics)
        self.notify("The whole trace is loaded.", timeout=3)

    # -- keeping the panes in step --------------------------------------------------------

    def _sync_lanes(self) -> None:
        lanes = [self.session.lane_by_tid[tid] for tid in self.visible_tids]
        if self.selected_tid not in self.visible_tids:
            self.selected_tid = self.visible_tids[0] if self.visible_tids else None
        index = self.visible_tids.index(self.selected_tid) if self.selected_tid is not None else 0
        self.timeline_view.set_lanes(lanes, index)

    def _lane_selected(self) -> None:
        view = self.timeline_view
        view.selected_index = self.visible_tids.index(self.selected_tid)
        view.scroll_to_selected()

    def _lock(self) -> LockOccupancy | None:
        """The lock lane's mm: the one picked with `l`, else the selection's."""
        mm = self.lock_mm or self.session.lock_mm(self.selected_tid, self.selected_fault)
        return self.lock_for(self.session.timeline, mm)

    def _refresh_panes(self) -> None:
        view = self.timeline_view
        view.selected_fault = self.selected_fault
        view.set_lock(self._lock())
        view.refresh()
        tid = self.selected_tid
        lane = self.session.lane_by_tid.get(tid) if tid is not None else None
        if lane is not None:
            self.query_one(ThreadList).show_thread(lane.tid)
        context = (describe_span(lane, view.cursor_ns, self.origin_ns)
                   if lane is not None and self.selected_fault is None else None)
        self.query_one(FaultDetail).show_fault(self.selected_fault, self.session.comm(tid),
                                               context=context)
        self.query_one("#status", Static).update(self.status_text(), layout=False)

    def status_text(self) -> str:
        view = self.timeline_view
        thread = (f"tid {self.selected_tid} {self.session.comm(self.selected_tid)}"
                  if self.selected_tid is not None else "no thread")
        return status_line(view.window, view.cursor_ns, view.marker_a_ns, view.marker_b_ns,
                           thread, self.selected_fault, max(20, self.size.width))

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

    @on(TimelineView.Resized)
    def _timeline_resized(self) -> None:
        self._refresh_panes()

    # -- actions ------------------------------------------------------------------------

    def action_compare(self) -> None:
        if self.is_preview:
            self.notify("the trace is still loading: compare when it is done",
                        severity="warning")
            return
        def open_compare(policies: list[str] | None) -> None:
            if policies:
                self.app.push_screen(CompareScreen(
                    self.session, policies, selected_tid=self.selected_tid,
                    cursor_ns=self.timeline_view.cursor_ns, selected_fault=self.selected_fault))

        self.app.push_screen(PolicyPicker(), open_compare)

    def action_quit(self) -> None:
        self.workers.cancel_all()  # a load behind a preview stops at its next checkpoint
        self.app.exit(return_code=0)

    def action_focus_timeline(self) -> None:
        """Escape: leave the filter box or the thread table, so single letters are keys again."""
        self.focus_timeline()

    def action_cycle_lock(self) -> None:
        """Show the next mm's mmap_lock (busiest first), then follow the selection again."""
        choices: list[str | None] = [*self.session.mms_by_activity, None]
        self.lock_mm = choices[(choices.index(self.lock_mm) + 1) % len(choices)]
        self.notify(f"lock lane: mm {self.lock_mm}" if self.lock_mm is not None
                    else "lock lane: the selected thread's mm", timeout=2)
        self._refresh_panes()

    def action_sort(self) -> None:
        self.query_one(ThreadList).cycle_sort()
