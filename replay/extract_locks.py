"""Workload extraction, the lock side: writers' sections, other lock sections, and the
recorded lock hand-over delays."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence

from faulttui.model.timeline import LockHold, WriterOp
from replay.workload import LockSection, WriterSpec

WRITER_SLACK_NS = 1_000  # text traces print microseconds: "at the same time" is +-1 us
WAKEUP_QUANTILES = 100


class WriterWindows:
    """When some writer held or waited for one mm's mmap_lock (request -> release)."""

    def __init__(self, spans: list[tuple[int, int, int]]) -> None:
        spans.sort()
        self.starts = [start - WRITER_SLACK_NS for start, _, _ in spans]
        self.ends = [end + WRITER_SLACK_NS for _, end, _ in spans]
        self.tids = [tid for _, _, tid in spans]
        self.longest = max((end - start for start, end in zip(self.starts, self.ends,
                                                               strict=True)), default=0)

    def active(self, at: int, other_than_tid: int) -> bool:
        """A writer other than `other_than_tid` held or waited for the lock at `at`."""
        first = bisect_left(self.starts, at - self.longest)
        last = bisect_right(self.starts, at)
        return any(self.ends[i] >= at and self.tids[i] != other_than_tid
                   for i in range(first, last))


def writer_windows(holds: Sequence[LockHold]) -> dict[str, WriterWindows]:
    spans: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for hold in holds:
        if hold.write:
            spans[hold.mm].append((hold.request_ns, hold.released_ns, hold.tid))
    return {mm: WriterWindows(mm_spans) for mm, mm_spans in spans.items()}


class ThreadHolds:
    """One thread's lock holds that are no fault attempt's own, and which of them a writer
    call has claimed (`used`, by index into `holds`)."""

    def __init__(self, holds: Sequence[LockHold]) -> None:
        self.holds = holds
        self.used: set[int] = set()
        # candidates for a call's own section, in index order; the first `_claimed` are used
        self._writer_holds = [index for index, hold in enumerate(holds)
                              if not hold.downgrade and hold.purpose == "writer"]
        self._claimed = 0
        self._write_holds_by_mm: dict[str, list[int]] = defaultdict(list)
        for index, hold in enumerate(holds):
            if hold.write:
                self._write_holds_by_mm[hold.mm].append(index)

    def call_hold(self, op: WriterOp) -> int | None:
        """The first unclaimed writer hold inside the call `op`."""
        writer_holds = self._writer_holds
        while self._claimed < len(writer_holds) and writer_holds[self._claimed] in self.used:
            self._claimed += 1
        return next((index for index in writer_holds[self._claimed:]
                     if index not in self.used and op.start_ns <= self.holds[index].request_ns
                     and self.holds[index].released_ns <= op.end_ns), None)

    def nested_write_hold(self, outer: LockHold) -> int | None:
        """The first unclaimed write hold of another mm inside write hold `outer`."""
        found: list[int] = []  # per other mm, its first such hold
        for mm, indices in self._write_holds_by_mm.items():
            if mm == outer.mm:
                continue
            first = next((index for index in indices if index not in self.used
                          and outer.acquired_ns <= self.holds[index].request_ns
                          and self.holds[index].released_ns <= outer.released_ns + WRITER_SLACK_NS),
                         None)
            if first is not None:
                found.append(first)
        return min(found, default=None)


def writer_spec(op: WriterOp, thread_holds: ThreadHolds, thread_mm: str) -> WriterSpec:
    """The call's own mmap_lock section: its first unclaimed writer hold inside the call
    (text traces print microseconds, so the next call's hold can share the exit's stamp).
    Marks the holds it takes in `thread_holds.used`."""
    holds, used = thread_holds.holds, thread_holds.used
    primary = thread_holds.call_hold(op)
    if primary is None:  # no mmap_lock: a failed call, or advice under the per-VMA lock
        return WriterSpec(0, op.op, thread_mm, op.addr, op.length, op.vma_ids, 0,
                          op.latency_ns, 0, ret=op.ret, mode="none")
    hold = holds[primary]
    used.add(primary)
    end = hold.released_ns
    downgraded_ns = -1
    downgraded = downgrade_after(holds, primary)
    if downgraded is not None:
        used.add(downgraded)
        downgraded_ns = holds[downgraded].hold_ns
        end = holds[downgraded].released_ns
    nested_mm = ""
    nested_after_ns = nested_hold_ns = 0
    if hold.write:
        # dup_mmap: the child's mm write-locked while the caller's is held (one fork, not a
        # section of its own after it)
        nested = thread_holds.nested_write_hold(hold)
        if nested is not None:
            used.add(nested)
            nested_mm = holds[nested].mm
            nested_after_ns = holds[nested].acquired_ns - hold.acquired_ns
            nested_hold_ns = min(holds[nested].hold_ns, max(0, hold.hold_ns - nested_after_ns))
    return WriterSpec(
        gap_ns=0, op=op.op, mm=hold.mm, addr=op.addr, length=op.length, vma_ids=op.vma_ids,
        before_lock_ns=max(0, hold.request_ns - op.start_ns), hold_ns=hold.hold_ns,
        after_ns=max(0, op.end_ns - end), downgraded_ns=downgraded_ns, ret=op.ret,
        mode="write" if hold.write else "read", nested_mm=nested_mm,
        nested_after_ns=nested_after_ns, nested_hold_ns=nested_hold_ns)


def lock_sections(thread_holds: ThreadHolds) -> list[tuple[int, int, LockSection]]:
    """(start, end, section) for every hold no fault or writer call claimed."""
    holds, used = thread_holds.holds, thread_holds.used
    sections = []
    for index, hold in enumerate(holds):
        if index in used or hold.downgrade:
            continue
        downgraded = downgrade_after(holds, index)
        end = hold.released_ns if downgraded is None else holds[downgraded].released_ns
        sections.append((hold.request_ns, end, LockSection(
            0, hold.mm, hold.write, hold.hold_ns, trylock=hold.trylock,
            downgraded_ns=-1 if downgraded is None else holds[downgraded].hold_ns)))
    return sections


def downgrade_after(holds: Sequence[LockHold], index: int) -> int | None:
    """The index of the read hold that mmap_write_downgrade turned write hold `index` into."""
    hold = holds[index]
    if not hold.write:
        return None
    for later in range(index + 1, min(index + 3, len(holds))):
        candidate = holds[later]
        if candidate.downgrade and candidate.mm == hold.mm and (
                candidate.acquired_ns == hold.released_ns):
            return later
    return None


def thread_mm(fault_mms: Counter[str], holds: Sequence[LockHold]) -> str:
    """The mm a thread works in: the one most of its faults and lock holds name.
    `fault_mms`: how many of its faults name each mm (in the order the faults first do)."""
    counts = fault_mms.copy()
    counts.update(hold.mm for hold in holds)
    return counts.most_common(1)[0][0] if counts else ""


def wakeup_quantiles(holds: Sequence[LockHold], write: bool) -> tuple[int, ...]:
    """Quantiles of the delay from the release that let a sleeping waiter in (a reader: the
    writer's release; a writer: the last release) to the waiter holding the lock: the
    wake-up and the wait for a CPU, which the replay does not model."""
    releases: dict[str, list[int]] = defaultdict(list)
    for hold in holds:
        if write or hold.write:
            releases[hold.mm].append(hold.released_ns)
    for mm_releases in releases.values():
        mm_releases.sort()
    delays = []
    for hold in holds:
        if hold.contended_ns <= 0 or hold.downgrade or hold.write != write:
            continue
        mm_releases = releases[hold.mm]
        index = bisect_right(mm_releases, hold.acquired_ns) - 1
        if index >= 0 and mm_releases[index] >= hold.request_ns:
            delays.append(hold.acquired_ns - mm_releases[index])
    if not delays:
        return ()
    delays.sort()
    count = len(delays)
    return tuple(delays[(2 * q + 1) * count // (2 * WAKEUP_QUANTILES)]
                 for q in range(WAKEUP_QUANTILES))
