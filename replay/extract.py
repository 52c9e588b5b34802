"""Workload extraction: a reconstructed Timeline -> per-thread programs (DESIGN.md "Replay").

What is kept is the work, not the waiting: a fault's CPU time under its lock(s), the wait
for its page, a writer's hold time. Lock waits are dropped; the replay recreates them.

Per fault (`Fault.attempts`, stock kernel shape: A1 under the VMA lock, a drop, a retry):
- `cpu_ns`: the attempts up to the first drop (or the whole fault), lock waits excluded;
- `io_ns`: the device latency of the fault's own reads (block issue -> complete);
  `wake_ns`: the rest of the wait until the retry ran (completion -> wake-up -> on CPU);
- `map_cpu_ns`: the attempts after the drop, lock waits and held I/O excluded;
- a fallback from the VMA lock is replayed as the fault's own (`fallback_cpu_ns`) only if
  no writer held or wanted `mmap_lock` then; otherwise it is the replay's to recreate.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from faulttui.model.timeline import (
    AttemptLock,
    AttemptOutcome,
    Fault,
    FilePage,
    LockHold,
    ThreadLane,
    Timeline,
    WriterOp,
)
from replay.extract_locks import (
    WriterWindows,
    lock_sections,
    thread_mm,
    wakeup_quantiles,
    writer_spec,
    writer_windows,
)
from replay.workload import NO_PAGE, FaultSpec, Operation, ThreadProgram, Workload

DEFAULT_PRIO = 120

@dataclass(slots=True)
class _Recording:
    """The timeline, indexed the way extraction reads it."""

    timeline: Timeline
    pages: dict[FilePage, int] = field(default_factory=dict)  # page -> key, first-fault order
    extra_keys: int = 0  # keys for pages a fault slept on but faulttui could not name
    faults_by_tid: dict[int, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    ops_by_tid: dict[int, list[WriterOp]] = field(default_factory=lambda: defaultdict(list))
    holds_by_tid: dict[int, list[LockHold]] = field(default_factory=lambda: defaultdict(list))
    nested_by_fault: dict[int, list[LockHold]] = field(default_factory=lambda: defaultdict(list))
    reads_by_page: dict[FilePage, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    writers: dict[str, WriterWindows] = field(default_factory=dict)
    vma_kinds: dict[tuple[str, int], str] = field(default_factory=dict)

    @staticmethod
    def index(timeline: Timeline) -> _Recording:
        recording = _Recording(timeline)
        recording.writers = writer_windows(timeline.mmap_lock_holds)
        recording.vma_kinds = {(vma.mm, vma.vma_id): vma.kind for vma in timeline.vmas}
        attempt_requests = {(fault.fault_id, attempt.start_ns) for fault in timeline.faults
                            for attempt in fault.attempts
                            if attempt.lock is AttemptLock.MMAP_READ}
        for hold in timeline.mmap_lock_holds:
            if hold.purpose == "fault-nested":
                recording.nested_by_fault[hold.fault_id].append(hold)
            elif not hold.purpose.startswith("fault") or (
                    (hold.fault_id, hold.request_ns) not in attempt_requests):
                # not an attempt's own lock: a read later in the fault's window (an
                # untraced syscall, a /proc read), replayed as a lock section of its own
                recording.holds_by_tid[hold.tid].append(hold)
        for fault in timeline.faults:
            recording.faults_by_tid[fault.tid].append(fault)
            if fault.page is not None:
                recording.pages.setdefault(fault.page, len(recording.pages))
                if fault.io_requests:
                    recording.reads_by_page[fault.page].append(fault)
        recording.extra_keys = len(recording.pages)
        for op in timeline.writer_ops:
            recording.ops_by_tid[op.tid].append(op)
        return recording

    def page_key(self, fault: Fault) -> int:
        if fault.page is not None:
            return self.pages[fault.page]
        if fault.retry_reason is None:
            return NO_PAGE
        self.extra_keys += 1  # slept for a page faulttui could not name: its own page
        return self.extra_keys - 1


def extract_workload(timeline: Timeline, source: str = "") -> Workload:
    recording = _Recording.index(timeline)
    lanes = {lane.tid: lane for lane in timeline.threads}
    seen = set(recording.faults_by_tid) | set(recording.ops_by_tid) | set(recording.holds_by_tid)
    tids = list(lanes) + sorted(seen - set(lanes))
    programs = []
    for tid in tids:
        lane = lanes.get(tid)
        if lane is None:
            lane = ThreadLane(tid, -1, "", DEFAULT_PRIO)
        programs.append(_thread_program(recording, lane))

    resident: dict[int, bool] = {}  # page key -> its first fault found it cached
    for fault in timeline.faults:
        if fault.page is not None:
            resident.setdefault(recording.pages[fault.page], _cached(fault))
    reads = sum(1 for fault in timeline.faults if fault.io_requests > 0)
    return Workload(
        source=source, start_ns=timeline.start_ns, end_ns=timeline.end_ns,
        threads=tuple(programs), vmas=timeline.vmas, vma_source=timeline.vma_source,
        pages=tuple(recording.pages),
        resident_pages=tuple(key for key, cached in resident.items() if cached),
        # the recording's page cache: as many pages as were read and not evicted again
        page_cache_pages=max(1, reads - timeline.evictions) if timeline.evictions else None,
        reader_wakeup_ns=wakeup_quantiles(timeline.mmap_lock_holds, write=False),
        writer_wakeup_ns=wakeup_quantiles(timeline.mmap_lock_holds, write=True),
    )


def _thread_program(recording: _Recording, lane: ThreadLane) -> ThreadProgram:
    tid = lane.tid
    holds = recording.holds_by_tid[tid]
    faults = recording.faults_by_tid[tid]
    mm = thread_mm(faults, holds)
    # (start, end, a fault to turn into a spec once its gap is known, or an op with gap 0)
    items: list[tuple[int, int, Fault | Operation]] = [
        (fault.start_ns, fault.end_ns, fault) for fault in faults]
    used: set[int] = set()
    for op in recording.ops_by_tid[tid]:
        items.append((op.start_ns, op.end_ns, writer_spec(op, holds, used, mm)))
    items += lock_sections(holds, used)
    items.sort(key=lambda item: (item[0], item[1]))
    ops: list[Operation] = []
    previous_end = recording.timeline.start_ns
    for start, end, item in items:
        gap_ns = max(0, start - previous_end)
        if isinstance(item, Fault):
            fault_mm = item.mm or mm
            ops.append(_fault_spec(
                item, fault_mm, recording.page_key(item), lane.prio,
                recording.vma_kinds.get((fault_mm, item.vma_id)),
                recording.nested_by_fault.get(item.fault_id, ()), recording.writers.get(fault_mm),
                _other_reader(item, recording.reads_by_page), gap_ns))
        else:
            ops.append(replace(item, gap_ns=gap_ns))
        previous_end = max(previous_end, end)
    return ThreadProgram(tid, lane.tgid, lane.comm, lane.prio, tuple(ops))


def _other_reader(fault: Fault, reads_by_page: dict[FilePage, list[Fault]]) -> bool:
    """Another fault's read of the same page was in flight when `fault` began."""
    if fault.page is None or fault.io_requests:
        return False
    return any(other.start_ns <= fault.start_ns <= other.end_ns and other is not fault
               for other in reads_by_page.get(fault.page, ()))


def _cached(fault: Fault) -> bool:
    """The fault found its page uptodate: it never waited for it. Its own block requests
    may be readahead of other pages that it issued and did not wait for."""
    return fault.retry_reason is None and (fault.io_requests == 0 or fault.io_wait_ns == 0)


def _fault_spec(fault: Fault, mm: str, key: int, prio: int, vma_kind: str | None,
                nested: Sequence[LockHold], writers: WriterWindows | None,
                other_reader: bool, gap_ns: int) -> FaultSpec:
    attempts = fault.attempts
    drop = None
    for index, attempt in enumerate(attempts):
        if attempt.outcome is AttemptOutcome.RETRY:
            drop = index
            break

    def busy(index_range: range) -> int:
        total = 0
        for i in index_range:
            attempt = attempts[i]
            busy_ns = (attempt.end_ns - attempt.start_ns - attempt.lock_wait_ns
                       - attempt.io_wait_held_ns)
            if busy_ns > 0:
                total += busy_ns
        return total

    fallback_cpu_ns = -1
    first = 0
    if attempts and attempts[0].outcome is AttemptOutcome.FALLBACK:
        at = attempts[0].end_ns
        if writers is None or not writers.active(at, fault.tid):
            fallback_cpu_ns = attempts[0].end_ns - attempts[0].start_ns
        first = 1
    io_ns = map_cpu_ns = 0
    wake_ns = -1
    if drop is None:
        cpu_ns = max(0, fault.latency_ns - sum(a.lock_wait_ns for a in attempts)
                     - (attempts[0].end_ns - attempts[0].start_ns if first else 0))
    else:
        cpu_ns = busy(range(first, drop + 1))
        resumed = attempts[drop + 1].start_ns if drop + 1 < len(attempts) else fault.end_ns
        waited = max(0, resumed - attempts[drop].end_ns)
        if fault.io_requests and fault.io_latency_ns > 0:
            io_ns = min(fault.io_latency_ns, waited)
            wake_ns = waited - io_ns
        elif not other_reader:
            # a read the trace does not tie to a fault (readahead by a kworker, an untraced
            # block layer): the replay issues it as this fault's own
            io_ns, wake_ns = waited, 0
        # else: it waited for another replayed fault's read, which the replay recreates
        map_cpu_ns = busy(range(drop + 1, len(attempts)))
        if drop + 1 < len(attempts):
            # (with no attempt after the drop, the rest of the fault is the wait itself)
            map_cpu_ns += max(0, fault.end_ns - attempts[-1].end_ns)
    nested_ns = [hold.hold_ns for hold in nested]
    return FaultSpec(
        gap_ns=gap_ns, fault_id=fault.fault_id, mm=mm, address=fault.address, vma_id=fault.vma_id,
        anon=vma_kind == "anon", page_key=key, cached=_cached(fault), io_ns=io_ns,
        cpu_ns=cpu_ns, map_cpu_ns=map_cpu_ns, prio=prio, wake_ns=wake_ns,
        fallback_cpu_ns=fallback_cpu_ns, nested_reads=len(nested_ns),
        nested_read_ns=int(statistics.mean(nested_ns)) if nested_ns else 0,
    )
