"""What the TUI shows of one loaded trace: the recording and its lookup indexes.

Pure data, no textual. Building a session costs nothing (indexes are built on first use,
see TimelineIndex), so the first frame waits only for the load; the thread list's numbers
come from `compute_metrics` (the TUI never computes a metric of its own), run in a worker
after the first frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from faulttui.analysis.load import Recording
from faulttui.model.metrics import Metrics, ThreadMetrics
from faulttui.model.timeline import Timeline
from faulttui.tui.timeline_index import TimelineIndex

UNKNOWN = -1
"""A thread-list number not computed yet (shown as '…')."""


@dataclass(frozen=True, slots=True)
class ThreadRow:
    """One row of the thread list (numbers straight from ThreadMetrics)."""

    tid: int
    comm: str
    faults: int = UNKNOWN
    fault_p99_ns: int = UNKNOWN
    mmap_lock_wait_ns: int = UNKNOWN


class TraceSession(TimelineIndex):
    """The recording with its indexes; `text_source`: its raw trace lines can be shown."""

    def __init__(self, recording: Recording, text_source: bool) -> None:
        super().__init__(recording.timeline)
        self.recording = recording
        self.text_source = text_source


def build_session(recording: Recording, text_source: bool) -> TraceSession:
    """The session, with what the first frame shows (the slowest fault) found already (this
    runs in the loading worker)."""
    session = TraceSession(recording, text_source)
    _ = session.slowest_fault
    return session


def placeholder_rows(timeline: Timeline) -> tuple[ThreadRow, ...]:
    """The thread list before the metrics are known: tid and comm only."""
    return tuple(ThreadRow(lane.tid, lane.comm) for lane in timeline.threads)


def thread_rows(timeline: Timeline, metrics: Metrics) -> tuple[ThreadRow, ...]:
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
    return tuple(rows)
