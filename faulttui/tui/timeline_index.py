"""Lookup indexes over one timeline (the recording or a replay), each built on first use.

Pure data, no textual. Nothing is computed up front: the first frame needs none of these
(the main screen builds them in a worker right after it), and a replay's indexes are only
built when the compare view looks something up in it.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from functools import cached_property

from faulttui.model.timeline import Fault, LockHold, ThreadLane, Timeline
from faulttui.tui.lanes import contended_holds, faults_by_tid, mm_by_tid


class TimelineIndex:
    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._empty_lanes: dict[int, ThreadLane] = {}

    @cached_property
    def lane_by_tid(self) -> dict[int, ThreadLane]:
        return {lane.tid: lane for lane in self.timeline.threads}

    @cached_property
    def faults_by_tid(self) -> dict[int, list[Fault]]:
        return faults_by_tid(self.timeline.faults)

    @cached_property
    def fault_by_id(self) -> dict[int, Fault]:
        return {fault.fault_id: fault for fault in self.timeline.faults}

    @cached_property
    def contentions(self) -> list[LockHold]:
        return contended_holds(self.timeline.mmap_lock_holds)

    @cached_property
    def mm_by_tid(self) -> dict[int, str]:
        return mm_by_tid(self.timeline)

    @cached_property
    def mms_by_activity(self) -> tuple[str, ...]:
        """Address spaces, most mmap_lock acquisitions first."""
        counts = Counter(hold.mm for hold in self.timeline.mmap_lock_holds)
        return tuple(mm for mm, _ in counts.most_common())

    @cached_property
    def slowest_fault(self) -> Fault | None:
        return max(self.timeline.faults, key=lambda fault: (fault.latency_ns, -fault.start_ns),
                   default=None)

    def find_fault(self, fault_id: int) -> Fault | None:
        """The fault `fault_id` without building `fault_by_id` (faults are in id order)."""
        faults = self.timeline.faults
        index = bisect_left(faults, fault_id, key=lambda fault: fault.fault_id)
        return faults[index] if index < len(faults) and faults[index].fault_id == fault_id else None

    def comm(self, tid: int | None) -> str:
        lane = self.lane_by_tid.get(tid) if tid is not None else None
        return lane.comm if lane is not None else ""

    def lock_mm(self, tid: int | None, fault: Fault | None) -> str | None:
        """The mm whose mmap_lock matters for this selection: the selected fault's, else the
        one the thread used most."""
        if fault is not None and fault.tid == tid:
            return fault.mm
        return self.mm_by_tid.get(tid) if tid is not None else None

    def aligned_lanes(self, tids: Sequence[int], like: TimelineIndex) -> list[ThreadLane]:
        """This timeline's lanes of `tids`, in order; an empty lane (named as in `like`) where
        it lacks a thread, so a thread has the same row in every pane of the compare view."""
        lanes = []
        for tid in tids:
            lane = self.lane_by_tid.get(tid)
            if lane is None:
                lane = self._empty_lanes.get(tid)
            if lane is None:
                own = like.lane_by_tid[tid]
                lane = self._empty_lanes[tid] = ThreadLane(
                    tid, own.tgid, own.comm, own.prio, array("q"), array("q"), array("B"))
            lanes.append(lane)
        return lanes

    def warm(self) -> None:
        """Build every index now (in a worker), so the first key that needs one is quick."""
        for name in ("lane_by_tid", "faults_by_tid", "fault_by_id", "contentions",
                     "mm_by_tid", "mms_by_activity", "slowest_fault"):
            getattr(self, name)
