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
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter, itemgetter

from faulttui.model.gc_pause import gc_paused
from faulttui.model.timeline import (
    Attempt,
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
    ThreadHolds,
    WriterWindows,
    lock_sections,
    thread_mm,
    wakeup_quantiles,
    writer_spec,
    writer_windows,
)
from replay.workload import NO_PAGE, FaultSpec, Operation, ThreadProgram, Workload

DEFAULT_PRIO = 120
# bound once: an enum member's lookup through its class is slow in the per-fault loop
_RETRY = AttemptOutcome.RETRY
_FALLBACK = AttemptOutcome.FALLBACK
_MMAP_READ = AttemptLock.MMAP_READ

# a thread's operation, to put in order: (start, end, a fault's index or an op with gap 0)
_Item = tuple[int, int, int | Operation]


@dataclass(slots=True)
class _Recording:
    """The timeline, indexed the way extraction reads it. A fault is named by its index in
    `timeline.faults`: per-fault work then runs in the timeline's order, which is far
    kinder to the CPU caches than thread by thread (threads interleave in the recording)."""

    timeline: Timeline
    pages: dict[FilePage, int] = field(default_factory=dict)  # page -> key, first-fault order
    first_fault_cached: list[bool] = field(default_factory=list)  # per page key
    page_keys: list[int] = field(default_factory=list)  # per fault
    # faults that slept for a page faulttui could not name: each gets a key of its own
    unnamed_pages: set[int] = field(default_factory=set)
    extra_keys: int = 0  # keys given so far, named pages' and unnamed ones'
    fault_items_by_tid: dict[int, list[_Item]] = field(default_factory=lambda: defaultdict(list))
    fault_mms_by_tid: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
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
        attempt_requests = recording._index_faults()
        recording._count_fault_mms()
        recording._index_holds(attempt_requests)
        for op in timeline.writer_ops:
            recording.ops_by_tid[op.tid].append(op)
        return recording

    def _index_faults(self) -> set[tuple[int, int]]:
        """Index the faults; returns when each fault's attempts requested mmap_lock."""
        pages, page_keys, first_fault_cached = self.pages, self.page_keys, self.first_fault_cached
        items_by_tid = self.fault_items_by_tid
        attempt_requests = set()
        for index, fault in enumerate(self.timeline.faults):
            items_by_tid[fault.tid].append((fault.start_ns, fault.end_ns, index))
            page = fault.page
            if page is None:
                page_keys.append(NO_PAGE)
                if fault.retry_reason is not None:
                    self.unnamed_pages.add(index)
            else:
                key = pages.setdefault(page, len(pages))
                page_keys.append(key)
                if key == len(first_fault_cached):  # the page's first fault
                    first_fault_cached.append(_cached(fault))
                if fault.io_requests:
                    self.reads_by_page[page].append(fault)
            for attempt in fault.attempts:
                if attempt.lock is _MMAP_READ:
                    attempt_requests.add((fault.fault_id, attempt.start_ns))
        self.extra_keys = len(pages)
        return attempt_requests

    def _count_fault_mms(self) -> None:
        # (tid, mm) pairs in the order they first occur, so per thread in its faults' order
        for (tid, mm), count in Counter(map(attrgetter("tid", "mm"), self.timeline.faults)).items():
            if mm:
                self.fault_mms_by_tid[tid][mm] = count

    def _index_holds(self, attempt_requests: set[tuple[int, int]]) -> None:
        for hold in self.timeline.mmap_lock_holds:
            if hold.purpose == "fault-nested":
                self.nested_by_fault[hold.fault_id].append(hold)
            elif not hold.purpose.startswith("fault") or (
                    (hold.fault_id, hold.request_ns) not in attempt_requests):
                # not an attempt's own lock: a read later in the fault's window (an
                # untraced syscall, a /proc read), replayed as a lock section of its own
                self.holds_by_tid[hold.tid].append(hold)


def extract_workload(timeline: Timeline, source: str = "") -> Workload:
    with gc_paused():  # a spec per fault and as many index entries, no cycle
        return _extract(timeline, source)


def _extract(timeline: Timeline, source: str) -> Workload:
    recording = _Recording.index(timeline)
    lanes = {lane.tid: lane for lane in timeline.threads}
    seen = (set(recording.fault_items_by_tid) | set(recording.ops_by_tid)
            | set(recording.holds_by_tid))
    tids = list(lanes) + sorted(seen - set(lanes))
    for tid in tids:
        if tid not in lanes:
            lanes[tid] = ThreadLane(tid, -1, "", DEFAULT_PRIO)
    gaps = [0] * len(timeline.faults)  # per fault: its gap_ns
    thread_mms = {tid: thread_mm(recording.fault_mms_by_tid[tid], recording.holds_by_tid[tid])
                  for tid in tids}
    schedules = [_schedule(recording, tid, thread_mms[tid], gaps) for tid in tids]
    specs = _fault_specs(recording, gaps, thread_mms, lanes)
    programs = tuple(
        ThreadProgram(tid, lanes[tid].tgid, lanes[tid].comm, lanes[tid].prio,
                      tuple([specs[item] if isinstance(item, int) else item for item in schedule]))
        for tid, schedule in zip(tids, schedules, strict=True))
    return Workload(
        source=source, start_ns=timeline.start_ns, end_ns=timeline.end_ns,
        threads=programs, vmas=timeline.vmas, vma_source=timeline.vma_source,
        pages=tuple(recording.pages),
        # page keys whose first fault found the page cached
        resident_pages=tuple(key for key, cached in enumerate(recording.first_fault_cached)
                             if cached),
        # the recording's page cache: as many pages as were read and not evicted again
        page_cache_pages=max(1, _reads(timeline) - timeline.evictions)
        if timeline.evictions else None,
        reader_wakeup_ns=wakeup_quantiles(timeline.mmap_lock_holds, write=False),
        writer_wakeup_ns=wakeup_quantiles(timeline.mmap_lock_holds, write=True),
    )


def _reads(timeline: Timeline) -> int:
    return sum(1 for fault in timeline.faults if fault.io_requests > 0)


def _schedule(recording: _Recording, tid: int, mm: str, gaps: list[int]) -> list[int | Operation]:
    """The thread's program in order: a fault as its index (its gap_ns stored in `gaps`),
    any other operation as its spec. Gives the thread's unnamed pages their keys."""
    items = list(recording.fault_items_by_tid[tid])
    thread_holds = ThreadHolds(recording.holds_by_tid[tid])
    for op in recording.ops_by_tid[tid]:
        items.append((op.start_ns, op.end_ns, writer_spec(op, thread_holds, mm)))
    items += lock_sections(thread_holds)
    items.sort(key=itemgetter(0, 1))
    unnamed_pages = recording.unnamed_pages
    schedule: list[int | Operation] = []
    previous_end = recording.timeline.start_ns
    for start, end, item in items:
        gap_ns = start - previous_end if start > previous_end else 0
        if isinstance(item, int):
            gaps[item] = gap_ns
            if item in unnamed_pages:
                recording.page_keys[item] = recording.extra_keys
                recording.extra_keys += 1
            schedule.append(item)
        else:
            schedule.append(replace(item, gap_ns=gap_ns))
        if end > previous_end:
            previous_end = end
    return schedule


def _fault_specs(recording: _Recording, gaps: list[int], thread_mms: dict[int, str],
                 lanes: dict[int, ThreadLane]) -> list[FaultSpec]:
    """Every fault's spec, in the timeline's order."""
    prios = {tid: lane.prio for tid, lane in lanes.items()}
    return [_fault_spec(recording, fault, fault.mm or thread_mms[fault.tid], key,
                        prios[fault.tid], gap_ns)
            for fault, key, gap_ns in zip(recording.timeline.faults, recording.page_keys, gaps,
                                          strict=True)]


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


def _split_attempts(attempts: Sequence[Attempt], first: int) -> tuple[int | None, int, int, int]:
    """(the index of the attempt that dropped its lock to wait for I/O, or None; the busy
    time of attempts `first`..drop; of the attempts after the drop; all the lock waits).
    Busy: under the attempt's lock, its lock wait and any I/O wait it held the lock across
    excluded."""
    drop = None
    busy_to_drop = busy_after_drop = lock_waits = 0
    for index, (_, start_ns, end_ns, outcome, lock_wait_ns, _, io_wait_held_ns) in enumerate(
            attempts):
        lock_waits += lock_wait_ns
        busy_ns = end_ns - start_ns - lock_wait_ns - io_wait_held_ns
        if busy_ns < 0:
            busy_ns = 0
        if drop is not None:
            busy_after_drop += busy_ns
            continue
        if index >= first:
            busy_to_drop += busy_ns
        if outcome is _RETRY:
            drop = index
    return drop, busy_to_drop, busy_after_drop, lock_waits


def _fault_spec(recording: _Recording, fault: Fault, mm: str, key: int, prio: int,
                gap_ns: int) -> FaultSpec:
    attempts = fault.attempts
    fallback_cpu_ns = -1
    first = 0
    if attempts and attempts[0].outcome is _FALLBACK:
        writers = recording.writers.get(mm)
        if writers is None or not writers.active(attempts[0].end_ns, fault.tid):
            fallback_cpu_ns = attempts[0].end_ns - attempts[0].start_ns
        first = 1
    drop, busy_to_drop, busy_after_drop, lock_waits = _split_attempts(attempts, first)
    io_ns = map_cpu_ns = 0
    wake_ns = -1
    if drop is None:
        cpu_ns = max(0, fault.end_ns - fault.start_ns - lock_waits
                     - (attempts[0].end_ns - attempts[0].start_ns if first else 0))
    else:
        cpu_ns = busy_to_drop
        retried = drop + 1 < len(attempts)
        resumed = attempts[drop + 1].start_ns if retried else fault.end_ns
        waited = resumed - attempts[drop].end_ns
        if waited < 0:
            waited = 0
        if fault.io_requests and fault.io_latency_ns > 0:
            io_ns = min(fault.io_latency_ns, waited)
            wake_ns = waited - io_ns
        elif not _other_reader(fault, recording.reads_by_page):
            # a read the trace does not tie to a fault (readahead by a kworker, an untraced
            # block layer): the replay issues it as this fault's own
            io_ns, wake_ns = waited, 0
        # else: it waited for another replayed fault's read, which the replay recreates
        if retried:
            # (with no attempt after the drop, the rest of the fault is the wait itself)
            map_cpu_ns = busy_after_drop + max(0, fault.end_ns - attempts[-1].end_ns)
    nested = recording.nested_by_fault.get(fault.fault_id)
    nested_reads = len(nested) if nested else 0
    nested_read_ns = int(statistics.mean(hold.hold_ns for hold in nested)) if nested else 0
    anon = recording.vma_kinds.get((mm, fault.vma_id)) == "anon"
    # positional, in field order: keywords would cost a tenth of the whole extraction
    return FaultSpec(gap_ns, fault.fault_id, mm, fault.address, fault.vma_id, anon, key,
                     _cached(fault), io_ns, cpu_ns, map_cpu_ns, prio, wake_ns, fallback_cpu_ns,
                     nested_reads, nested_read_ns)
