"""What the TUI shows of one loaded trace: the recording, its metrics and lookup indexes.

Built once in the loading worker (off the UI thread); pure data, no textual. Metrics come
from `compute_metrics` only: the TUI never computes a metric of its own.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from faulttui.analysis.load import Recording
from faulttui.model.metrics import Metrics, ThreadMetrics, compute_metrics
from faulttui.model.timeline import Fault, LockHold, ThreadLane, Timeline
from faulttui.tui.lanes import contended_holds, faults_by_tid, mm_by_tid


@dataclass(frozen=True, slots=True)
class ThreadRow:
    """One row of the thread list (numbers straight from ThreadMetrics)."""

    tid: int
    comm: str
    faults: int
    fault_p99_ns: int
    mmap_lock_wait_ns: int


@dataclass(frozen=True, slots=True)
class TraceSession:
    recording: Recording
    metrics: Metrics
    faults_by_tid: dict[int, list[Fault]]
    fault_by_id: dict[int, Fault]
    contentions: list[LockHold]
    mm_by_tid: dict[int, str]
    thread_rows: tuple[ThreadRow, ...]
    lane_by_tid: dict[int, ThreadLane]
    mms_by_activity: tuple[str, ...]  # address spaces, most mmap_lock acquisitions first
    text_source: bool  # raw trace lines can be shown

    @property
    def timeline(self) -> Timeline:
        return self.recording.timeline


def build_session(recording: Recording, text_source: bool) -> TraceSession:
    timeline = recording.timeline
    metrics = compute_metrics(timeline)
    by_tid: dict[int, ThreadMetrics] = {thread.tid: thread for thread in metrics.threads}
    rows = []
    for lane in timeline.threads:
        thread = by_tid.get(lane.tid)
        rows.append(ThreadRow(
            tid=lane.tid, comm=lane.comm,
            faults=thread.faults if thread else 0,
            fault_p99_ns=thread.fault_latency.p99 if thread else 0,
            mmap_lock_wait_ns=thread.mmap_lock_wait_ns if thread else 0,
        ))
    return TraceSession(
        recording=recording,
        metrics=metrics,
        faults_by_tid=faults_by_tid(timeline.faults),
        fault_by_id={fault.fault_id: fault for fault in timeline.faults},
        contentions=contended_holds(timeline.mmap_lock_holds),
        mm_by_tid=mm_by_tid(timeline),
        thread_rows=tuple(rows),
        lane_by_tid={lane.tid: lane for lane in timeline.threads},
        mms_by_activity=tuple(mm for mm, _ in Counter(
            hold.mm for hold in timeline.mmap_lock_holds).most_common()),
        text_source=text_source,
    )
