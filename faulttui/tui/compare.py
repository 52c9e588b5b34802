"""The compare view: the recording and a replay stacked on one time axis, plus a metrics
table (recording and every replayed policy, with deltas). `p` on the main screen opens it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Label, SelectionList, Static
from textual.worker import get_current_worker

from faulttui.errors import FaultTuiError
from faulttui.model.timeline import Timeline
from faulttui.tui.keys import TIMELINE_NAVIGATION
from faulttui.tui.lanes import LockOccupancy, lock_occupancy, mm_by_tid
from faulttui.tui.messages import PROGRESS_INTERVAL_S
from faulttui.tui.replays import (
    ReplayRun,
    delta_text,
    metric_rows,
    policy_catalogue,
    replay_params,
    run_replays,
)
from faulttui.tui.session import TraceSession
from faulttui.tui.timeline_view import TimelineView
from faulttui.tui.timescale import format_duration
from replay import ReplayParams


class PolicyPicker(ModalScreen[list[str] | None]):
    """Choose the policies to replay (space toggles, Enter or the button confirms)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Label("Replay the recording under (space toggles):")
            yield SelectionList[str](
                *((f"{policy_id:<20} {summary}", policy_id, policy_id == "retry-vma")
                  for policy_id, summary in policy_catalogue()), id="policy-list")
            yield Button("Compare", variant="primary", id="compare-button")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#compare-button")
    def _confirm(self) -> None:
        chosen = list(self.query_one(SelectionList).selected)
        if not chosen:
            self.notify("pick at least one policy", severity="warning")
            return
        self.dismiss(chosen)


@dataclass
class ReplayProgressed(Message):
    policy_id: str
    done: int
    total: int


@dataclass
class ReplaysFinished(Message):
    runs: list[ReplayRun]


@dataclass
class ReplaysFailed(Message):
    error: BaseException


class ReplayCancelled(Exception):
    """Raised in the replay worker when the user left the compare view."""


class CompareScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *TIMELINE_NAVIGATION,
        Binding("g", "goto(0)", "Start", show=False),
        Binding("G", "goto(1)", "End", show=False),
        Binding("v", "next_replay", "Next policy"),
        Binding("escape", "back", "Back"),
        Binding("q", "back", "Back", show=False),
    ]

    def __init__(self, session: TraceSession, policies: Sequence[str],
                 params: ReplayParams | Mapping[str, Any] | None = None, *,
                 selected_tid: int | None = None, cursor_ns: int | None = None) -> None:
        super().__init__()
        self.session = session
        self.policies = tuple(policies)
        self.params = replay_params(params)
        self.runs: list[ReplayRun] = []
        self.shown_replay = 0
        timeline = session.timeline
        slowest = max(timeline.faults, key=lambda fault: fault.latency_ns, default=None)
        # the thread and time the user was looking at, else the slowest fault's
        self.selected_tid = (selected_tid if selected_tid is not None
                             else slowest.tid if slowest is not None
                             else timeline.threads[0].tid if timeline.threads else None)
        self.initial_cursor_ns = (cursor_ns if cursor_ns is not None
                                  else slowest.start_ns if slowest is not None
                                  else timeline.start_ns)
        self._locks: dict[tuple[str, str], LockOccupancy] = {}

    def compose(self) -> ComposeResult:
        timeline = self.session.timeline
        yield Static(f"replaying under {', '.join(self.policies)}...", id="compare-status")
        yield Static("recording", classes="compare-title", id="recording-title")
        yield TimelineView(timeline.start_ns, timeline.end_ns, id="recording-view")
        yield Static("", classes="compare-title", id="replay-title")
        yield TimelineView(timeline.start_ns, timeline.end_ns, id="replay-view")
        table: DataTable[str] = DataTable(id="metrics-table", zebra_stripes=True)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.run_policies()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def run_policies(self) -> None:
        worker = get_current_worker()
        last_post = 0.0

        def progress(policy_id: str, done: int, total: int) -> None:
            nonlocal last_post
            if worker.is_cancelled:
                raise ReplayCancelled()
            now = time.monotonic()
            if now - last_post >= PROGRESS_INTERVAL_S:
                last_post = now
                self.post_message(ReplayProgressed(policy_id, done, total))

        try:
            runs = run_replays(self.session.recording, self.policies, self.params, progress)
        except ReplayCancelled:
            return
        except Exception as error:  # shown on the screen; a bug is re-raised after exit
            self.post_message(ReplaysFailed(error))
            return
        self.post_message(ReplaysFinished(runs))

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
        self.runs = message.runs  # the recording first
        start = min(run.timeline.start_ns for run in self.runs)
        end = max(run.timeline.end_ns for run in self.runs)
        views = self._views()
        for view in views:
            view.origin_ns, view.end_ns = start, max(end, start + 1)
            view.set_view(0, view.fit_ns_per_column())
            view.cursor_ns = view.clamp(self.initial_cursor_ns)
        self._fill_table()
        self._show_replay(0)

    def _views(self) -> tuple[TimelineView, TimelineView]:
        return (self.query_one("#recording-view", TimelineView),
                self.query_one("#replay-view", TimelineView))

    def _fill_table(self) -> None:
        table: DataTable[str] = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_column("metric")
        table.add_column("recording")
        for run in self.runs[1:]:
            table.add_column(run.name)
            table.add_column("Δ")
        for row in metric_rows(self.runs):
            cells = [row.label, _value(row.values[0], row.is_time)]
            for value in row.values[1:]:
                cells += [_value(value, row.is_time), delta_text(row.values[0], value)]
            table.add_row(*cells)

    def _show_replay(self, index: int) -> None:
        if len(self.runs) < 2:
            return
        self.shown_replay = index % (len(self.runs) - 1)
        run = self.runs[1 + self.shown_replay]
        self.query_one("#replay-title", Static).update(
            f"replay: {run.name}  (v: next policy)", layout=False)
        self._sync()

    def _lanes(self, timeline: Timeline) -> list[Any]:
        by_tid = {lane.tid: lane for lane in timeline.threads}
        return [by_tid[lane.tid] for lane in self.session.timeline.threads if lane.tid in by_tid]

    def _lock(self, timeline: Timeline) -> LockOccupancy | None:
        if self.selected_tid is None:
            return None
        mm = mm_by_tid(timeline).get(self.selected_tid)
        if mm is None:
            return None
        key = (timeline.name, mm)
        if key not in self._locks:
            self._locks[key] = lock_occupancy(timeline.mmap_lock_holds, mm)
        return self._locks[key]

    def _sync(self) -> None:
        """Both views show the same threads, time axis, cursor and selected thread."""
        if len(self.runs) < 2:
            return
        recording_view, replay_view = self._views()
        for view, run in ((recording_view, self.runs[0]),
                          (replay_view, self.runs[1 + self.shown_replay])):
            lanes = self._lanes(run.timeline)
            tids = [lane.tid for lane in lanes]
            index = tids.index(self.selected_tid) if self.selected_tid in tids else 0
            view.set_lanes(lanes, index)
            view.set_lock(self._lock(run.timeline))
        replay_view.copy_view_from(recording_view)
        recording_view.refresh()
        window = recording_view.window
        self.query_one("#compare-status", Static).update(
            f"cursor +{format_duration(recording_view.cursor_ns - recording_view.origin_ns)} │ "
            f"{format_duration(window.ns_per_column)}/col │ tid {self.selected_tid} │ "
            f"recording vs {self.runs[1 + self.shown_replay].name}", layout=False)

    # -- actions: applied to the recording's view, then mirrored -------------------------

    def action_zoom(self, direction: int) -> None:
        self._views()[0].zoom(direction)
        self._sync()

    def action_pan(self, direction: int) -> None:
        self._views()[0].pan(direction)
        self._sync()

    def action_goto(self, to_end: int) -> None:
        view = self._views()[0]
        view.cursor_ns = view.end_ns - 1 if to_end else view.origin_ns
        view.ensure_visible(view.cursor_ns)
        self._sync()

    def action_lane(self, delta: int) -> None:
        tids = [lane.tid for lane in self._views()[0].lanes]
        if not tids:
            return
        index = tids.index(self.selected_tid) if self.selected_tid in tids else 0
        self.selected_tid = tids[min(max(index + delta, 0), len(tids) - 1)]
        self._sync()

    def action_next_replay(self) -> None:
        self._show_replay(self.shown_replay + 1)

    def action_back(self) -> None:
        self.workers.cancel_all()
        self.app.pop_screen()

    @on(TimelineView.PanStep)
    def _pan_step(self, message: TimelineView.PanStep) -> None:
        self.action_pan(message.direction)

    @on(TimelineView.LaneStep)
    def _lane_step(self, message: TimelineView.LaneStep) -> None:
        self.action_lane(message.delta)

    @on(TimelineView.CursorStep)
    def _cursor_step(self, message: TimelineView.CursorStep) -> None:
        self._views()[0].step_cursor(message.columns)
        self._sync()

    @on(TimelineView.Clicked)
    def _clicked(self, message: TimelineView.Clicked) -> None:
        self._views()[0].cursor_ns = message.time_ns
        if message.tid is not None:
            self.selected_tid = message.tid
        self._sync()


def _value(value: int, is_time: bool) -> str:
    return format_duration(value) if is_time else f"{value:,}"
