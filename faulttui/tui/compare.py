"""The compare view: the recording and a replay stacked on one time axis and cursor (the same
thread in the same row), the metrics table (recording and every replayed policy, with deltas)
and the detail pane (the selected fault as recorded and as each replay ran it).

The recording pane works while the replays run in a worker. The pane last clicked (or picked
with tab) is the active one: n/N, c/C and `/` look for faults in its timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from faulttui.errors import FaultTuiError
from faulttui.model.timeline import Fault
from faulttui.tui.detail import FaultDetail, ReplayedFault, describe_span
from faulttui.tui.help import COMPARE_KEY_HELP
from faulttui.tui.histograms import Histograms
from faulttui.tui.lanes import LockOccupancy
from faulttui.tui.messages import ReplayProgressed, ReplaysFailed, ReplaysFinished
from faulttui.tui.metrics_table import MetricsTable
from faulttui.tui.replay_worker import replay_reporting
from faulttui.tui.replays import ReplayRun
from faulttui.tui.replays import replay_params as make_replay_params
from faulttui.tui.search_box import SearchBox
from faulttui.tui.session import TraceSession
from faulttui.tui.status import status_line
from faulttui.tui.timeline_index import TimelineIndex
from faulttui.tui.timeline_screen import TimelineScreen
from faulttui.tui.timeline_view import TimelineView
from replay import ReplayParams

PANE_IDS = ("recording-view", "replay-view")


class CompareScreen(TimelineScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "zoom_fault", "Fit fault", show=False),  # the footer is full: in ? help
        Binding("c", "contention(1)", "Contention", show=False),
        Binding("m", "marker", "Marker", show=False),
        Binding("tab", "switch_pane", "Switch pane", show=False, priority=True),
        Binding("v", "next_replay", "Next policy"),
        Binding("t", "toggle_lower", "Metrics/detail", show=False),
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
    ]
    KEY_HELP = COMPARE_KEY_HELP
    # narrower than this, the metrics table and the detail pane take turns (t switches)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012 (typed by textual)

    def __init__(self, session: TraceSession, policies: Sequence[str],
                 params: ReplayParams | Mapping[str, Any] | None = None, *,
                 selected_tid: int | None = None, cursor_ns: int | None = None,
                 selected_fault: Fault | None = None) -> None:
        super().__init__()
        self.session = session
        self.policies = tuple(policies)
        self.params = make_replay_params(params)
        self.runs: list[ReplayRun] = []  # the recording first
        self.indexes: list[TimelineIndex] = [session]  # one per run
        self.shown_replay = 0  # which replay the lower pane shows
        self.active = 0  # the active pane: 0 the recording, 1 the replay
        timeline = session.timeline
        # the thread, fault and time the user was looking at, else the slowest fault's
        fault = session.slowest_fault if selected_tid is None else selected_fault
        self.selected_fault = fault
        self.selected_tid = (selected_tid if selected_tid is not None
                             else fault.tid if fault is not None
                             else timeline.threads[0].tid if timeline.threads else None)
        self.initial_cursor_ns = (cursor_ns if cursor_ns is not None
                                  else fault.start_ns if fault is not None
                                  else timeline.start_ns)
        self.visible_tids = tuple(lane.tid for lane in timeline.threads)

    def compose(self) -> ComposeResult:
        timeline = self.session.timeline
        yield Static(f"replaying under {', '.join(self.policies)}...", id="compare-status")
        yield Static("", classes="compare-title", id="recording-title")
        yield TimelineView(timeline.start_ns, timeline.end_ns, id=PANE_IDS[0])
        yield Static("", classes="compare-title", id="replay-title")
        yield TimelineView(timeline.start_ns, timeline.end_ns, id=PANE_IDS[1])
        with Horizontal(id="compare-lower"):
            with Vertical(id="compare-numbers"):
                yield MetricsTable(id="metrics-table")
                yield Histograms("", id="histograms")
            yield FaultDetail(self.session.recording.path, self.session.text_source,
                              timeline.start_ns, id="compare-detail")
        yield SearchBox(id="compare-search")
        yield Footer()

    def on_mount(self) -> None:
        view = self.timeline_view
        view.cursor_ns = view.clamp(self.initial_cursor_ns)
        self._views()[0].focus()
        self._refresh_panes()
        self.run_policies()

    # -- the replays ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_policies(self) -> None:
        worker = get_current_worker()
        replay_reporting(self.session.recording, self.policies, self.params, self.post_message,
                         lambda: worker.is_cancelled)

    def on_replay_progressed(self, message: ReplayProgressed) -> None:
        percent = 100 * message.done // message.total if message.total else 100
        self.query_one("#compare-status", Static).update(
            f"replaying under {message.policy_id}: {percent}% of the faults", layout=False)

    def on_replays_failed(self, message: ReplaysFailed) -> None:
        self.query_one("#compare-status", Static).update(f"replay failed: {message.error}")
        self.notify(f"replay failed: {message.error}", severity="error")
        if not isinstance(message.error, FaultTuiError):
            # not the user's input: a bug; keep the session usable, report it at exit
            failure_holder = getattr(self.app, "record_failure", None)
            if callable(failure_holder):
                failure_holder(message.error)

    def on_replays_finished(self, message: ReplaysFinished) -> None:
        self.runs = message.runs
        self.indexes = [self.session, *(TimelineIndex(run.timeline) for run in self.runs[1:])]
        start = min(run.timeline.start_ns for run in self.runs)
        end = max(max(run.timeline.end_ns for run in self.runs), start + 1)
        lead = self.timeline_view
        window, whole_trace = lead.window, lead.window.ns_per_column >= lead.fit_ns_per_column()
        for view in self._views():
            view.origin_ns, view.end_ns = start, end
        if whole_trace:  # still the first look: fit every timeline
            lead.set_view(0, lead.fit_ns_per_column())
        else:  # the user zoomed in while the replays ran: keep that view
            lead.set_view((window.start_ns - start) // window.ns_per_column, window.ns_per_column)
        self.query_one(FaultDetail).origin_ns = start
        self.query_one(MetricsTable).show(self.runs)
        self.query_one(Histograms).show(self.runs)
        self._show_replay(0)

    # -- what the panes show --------------------------------------------------------------

    def _views(self) -> tuple[TimelineView, TimelineView]:
        return (self.query_one(f"#{PANE_IDS[0]}", TimelineView),
                self.query_one(f"#{PANE_IDS[1]}", TimelineView))

    @property
    def timeline_view(self) -> TimelineView:
        return self._views()[0]

    def _run_of_pane(self, pane: int) -> int | None:
        """The run a pane shows: 0 the recording, else 1 + the shown replay (if ready)."""
        if pane == 0:
            return 0
        return 1 + self.shown_replay if len(self.runs) > 1 else None

    @property
    def active_index(self) -> TimelineIndex:
        run = self._run_of_pane(self.active)
        return self.indexes[run if run is not None else 0]

    def _version(self, run: int, fault: Fault | None) -> Fault | None:
        """`fault` as run `run` saw it (replayed faults keep the recording's fault id)."""
        if fault is None:
            return None
        return self.indexes[run].fault_by_id.get(fault.fault_id)

    def _lock(self, run: int, fault: Fault | None) -> LockOccupancy | None:
        index = self.indexes[run]
        return self.lock_for(index.timeline, index.lock_mm(self.selected_tid, fault))

    def _refresh_panes(self) -> None:
        """Both panes show the same threads, time axis, cursor, thread and fault."""
        lead, follower = self._views()
        row = (self.visible_tids.index(self.selected_tid)
               if self.selected_tid in self.visible_tids else 0)
        recorded = self._version(0, self.selected_fault)
        for pane, view in enumerate((lead, follower)):
            run = self._run_of_pane(pane)
            if run is None:
                continue
            view.set_lanes(self.indexes[run].aligned_lanes(self.visible_tids, self.session), row)
            view.selected_fault = self._version(run, self.selected_fault)
            view.set_lock(self._lock(run, view.selected_fault))
        follower.copy_view_from(lead)
        self._align_rows()
        lead.refresh()
        self._show_titles()
        self._show_detail(recorded)
        self._show_status(recorded)

    def _align_rows(self) -> None:
        """Scroll both panes alike, so the selected row shows in both (forced: a view whose
        lanes just arrived has no scrollbar until its next layout)."""
        views = self._views()
        top = max(view.scroll_y for view in views)
        for view in views:
            view.scroll_to(y=top, animate=False, immediate=True, force=True)

    def _show_titles(self) -> None:
        names = ["recording  (tab: switch pane)",
                 f"replay: {self.runs[1 + self.shown_replay].name}  (v: next policy, t: metrics/detail)"
                 if len(self.runs) > 1 else "replay: running..."]
        for pane, title_id in enumerate(("#recording-title", "#replay-title")):
            marker = "▶ " if pane == self.active else "  "
            self.query_one(title_id, Static).update(marker + names[pane], layout=False)

    def _show_detail(self, recorded: Fault | None) -> None:
        detail = self.query_one(FaultDetail)
        if recorded is not None:
            replayed = [ReplayedFault(run.name, self._version(number, recorded), detail.origin_ns)
                        for number, run in enumerate(self.runs[1:], start=1)]
            detail.show_fault(recorded, self.session.comm(recorded.tid), replayed)
            return
        context = None
        if self.selected_tid is not None:
            cursor = self.timeline_view.cursor_ns
            for pane, view in enumerate(self._views()):
                run = self._run_of_pane(pane)
                if run is not None and view.lanes:
                    name = self.runs[run].name if self.runs else "recording"
                    span = describe_span(view.lanes[view.selected_index], cursor,
                                         detail.origin_ns, name)
                    context = span if context is None else context.append_text(span)
        detail.show_fault(None, context=context)

    def _show_status(self, recorded: Fault | None) -> None:
        if len(self.runs) < 2:
            return  # the replay worker's progress is shown instead
        view = self.timeline_view
        thread = f"tid {self.selected_tid} {self.session.comm(self.selected_tid)}"
        line = status_line(view.window, view.cursor_ns, view.marker_a_ns, view.marker_b_ns,
                           thread, recorded, max(20, self.size.width - 30))
        self.query_one("#compare-status", Static).update(
            f"{line} │ recording vs {self.runs[1 + self.shown_replay].name}", layout=False)

    def _show_replay(self, index: int) -> None:
        if len(self.runs) < 2:
            return
        self.shown_replay = index % (len(self.runs) - 1)
        self._remap_selection()

    def _remap_selection(self) -> None:
        """The active timeline changed: select its version of the selected fault."""
        if self.selected_fault is not None:
            self.selected_fault = (self.active_index.fault_by_id.get(self.selected_fault.fault_id)
                                   or self.selected_fault)
        self._refresh_panes()

    def _pane_clicked(self, view: TimelineView) -> None:
        pane = PANE_IDS.index(view.id or PANE_IDS[0])
        if pane != self.active and self._run_of_pane(pane) is not None:
            self.active = pane
            self._remap_selection()

    def select(self, tid: int | None, fault: Fault | None = None,
               cursor_ns: int | None = None) -> None:
        if fault is not None and fault is not self.selected_fault:
            self._show_lower("detail")  # only matters where the two take turns
        super().select(tid, fault, cursor_ns)

    def _show_lower(self, which: str) -> None:
        lower = self.query_one("#compare-lower")
        lower.set_class(which == "detail", "-show-detail")

    def focus_timeline(self) -> None:
        self._views()[self.active].focus()

    # -- actions ------------------------------------------------------------------------

    def action_next_replay(self) -> None:
        self._show_replay(self.shown_replay + 1)

    def action_switch_pane(self) -> None:
        if self._run_of_pane(1 - self.active) is None:
            self.notify("the replay is still running", severity="warning")
            return
        self.active = 1 - self.active
        self.focus_timeline()
        self._remap_selection()

    def action_toggle_lower(self) -> None:
        lower = self.query_one("#compare-lower")
        self._show_lower("metrics" if lower.has_class("-show-detail") else "detail")

    def action_back(self) -> None:
        self.workers.cancel_all()
        self.app.pop_screen()
