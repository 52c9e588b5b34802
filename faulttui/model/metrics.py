"""Metrics of a timeline: one implementation read by the CLI (--json), the TUI and the report.

Everything is computed from a `Timeline`, recorded or replayed, with the same code, so a
recording and its replays compare key by key (DESIGN.md "Metrics in JSON").
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from faulttui.model.fault_table import FaultTable
from faulttui.model.timeline import AttemptLock, AttemptOutcome, LockHold, Timeline

# Log buckets [0,1us) [1,10us) ... [100ms,inf), the shape of the published tables.
BUCKET_EDGES_NS: tuple[int, ...] = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
BUCKET_LABELS: tuple[str, ...] = (
    "[0,1us)", "[1us,10us)", "[10us,100us)", "[100us,1ms)", "[1ms,10ms)", "[10ms,100ms)",
    "[100ms,inf)",
)


@dataclass(frozen=True, slots=True)
class Dist:
    """A distribution of nanosecond values: count, total, mean, percentiles, max, log buckets."""

    count: int
    total: int
    mean: int
    p50: int
    p90: int
    p99: int
    p999: int
    max: int
    buckets: tuple[int, ...]

    @staticmethod
    def of(values: Iterable[int]) -> Dist:
        ordered = sorted(values)
        count = len(ordered)
        if count == 0:
            return Dist(0, 0, 0, 0, 0, 0, 0, 0, (0,) * len(BUCKET_LABELS))
        total = sum(ordered)
        buckets = []
        previous = 0
        for edge in BUCKET_EDGES_NS:
            index = bisect_left(ordered, edge)
            buckets.append(index - previous)
            previous = index
        buckets.append(count - previous)
        return Dist(
            count=count, total=total, mean=total // count,
            p50=_percentile(ordered, 0.50), p90=_percentile(ordered, 0.90),
            p99=_percentile(ordered, 0.99), p999=_percentile(ordered, 0.999),
            max=ordered[-1], buckets=tuple(buckets),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count, "total": self.total, "mean": self.mean, "p50": self.p50,
            "p90": self.p90, "p99": self.p99, "p999": self.p999, "max": self.max,
            "buckets": dict(zip(BUCKET_LABELS, self.buckets, strict=True)),
        }


def _percentile(ordered: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, -(-int(fraction * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class ThreadMetrics:
    tid: int
    comm: str
    faults: int
    fault_latency: Dist
    mmap_lock_wait_ns: int

    def to_json(self) -> dict[str, Any]:
        return {
            "tid": self.tid, "comm": self.comm, "faults": self.faults,
            "fault_latency_ns": self.fault_latency.to_json(),
            "mmap_lock_wait_ns": self.mmap_lock_wait_ns,
        }


@dataclass(frozen=True, slots=True)
class Metrics:
    faults_total: int
    faults_major: int
    vma_fallbacks: int
    refaults: int
    retries_total: int
    retries_mmap: int
    retries_vma: int
    fault_latency: Dist
    mmap_read_acquisitions: int
    mmap_write_acquisitions: int
    trylock_failed: int
    downgrades: int
    mmap_read_wait: Dist
    mmap_write_wait: Dist
    mmap_read_hold: Dist
    mmap_write_hold: Dist
    io_requests: int
    io_wait: Dist
    writer_ops: int
    writer_latency: Dist
    writer_latency_by_op: tuple[tuple[str, Dist], ...]
    priority_inversion_ns: int
    makespan_ns: int
    threads: tuple[ThreadMetrics, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "faults": {
                "total": self.faults_total, "major": self.faults_major,
                "vma_fallbacks": self.vma_fallbacks, "refaults": self.refaults,
                "retries": {"total": self.retries_total, "mmap": self.retries_mmap,
                            "vma": self.retries_vma},
            },
            "fault_latency_ns": self.fault_latency.to_json(),
            "mmap_lock": {
                "acquisitions": {"read": self.mmap_read_acquisitions,
                                 "write": self.mmap_write_acquisitions},
                "trylock_failed": self.trylock_failed,
                "downgrades": self.downgrades,
                "wait_ns": {"read": self.mmap_read_wait.to_json(),
                            "write": self.mmap_write_wait.to_json()},
                "hold_ns": {"read": self.mmap_read_hold.to_json(),
                            "write": self.mmap_write_hold.to_json()},
            },
            "io": {"requests": self.io_requests, "wait_ns": self.io_wait.to_json()},
            "writers": {
                "ops": self.writer_ops, "latency_ns": self.writer_latency.to_json(),
                "by_op": {op: dist.to_json() for op, dist in self.writer_latency_by_op},
            },
            "priority_inversion_ns": self.priority_inversion_ns,
            "makespan_ns": self.makespan_ns,
            "threads": [thread.to_json() for thread in self.threads],
        }


def compute_metrics(timeline: Timeline) -> Metrics:
    faults = timeline.faults
    holds = timeline.mmap_lock_holds
    read_holds = [hold for hold in holds if not hold.write and not hold.downgrade]
    write_holds = [hold for hold in holds if hold.write]
    all_read_holds = [hold for hold in holds if not hold.write]
    completed_io = [request for request in timeline.io_requests if request.complete_ns >= 0]

    wait_by_tid: dict[int, int] = defaultdict(int)
    for hold in holds:
        wait_by_tid[hold.tid] += hold.acquired_ns - hold.request_ns
    # one pass over the faults (the largest table) for every fault count
    faults_by_tid: dict[int, list[int]] = defaultdict(list)
    latencies: list[int] = []
    major = vma_fallbacks = refaults = retries_mmap = retries_vma = 0
    mmap_read, vma, fallback = AttemptLock.MMAP_READ, AttemptLock.VMA, AttemptOutcome.FALLBACK
    if isinstance(faults, FaultTable):  # a replay's: the uncontended faults count only here
        tids, uncontended_latencies = faults.uncontended_latencies()
        latencies += uncontended_latencies
        for tid, latency_ns in zip(tids, uncontended_latencies, strict=True):
            faults_by_tid[tid].append(latency_ns)
        faults = faults.records
    for fault in faults:
        latency_ns = fault.end_ns - fault.start_ns
        latencies.append(latency_ns)
        faults_by_tid[fault.tid].append(latency_ns)
        if fault.io_requests > 0 or fault.io_wait_ns > 0:
            major += 1
        for attempt in fault.attempts:
            if attempt.outcome is fallback:
                vma_fallbacks += 1
                break
        if fault.refault:
            refaults += 1
        if fault.retry_lock is mmap_read:
            retries_mmap += 1
        elif fault.retry_lock is vma:
            retries_vma += 1
    comm_by_tid = {lane.tid: lane.comm for lane in timeline.threads}
    threads = tuple(
        ThreadMetrics(tid, comm_by_tid.get(tid, ""), len(latencies), Dist.of(latencies),
                      wait_by_tid.get(tid, 0))
        for tid, latencies in sorted(faults_by_tid.items())
    )
    by_op: dict[str, list[int]] = defaultdict(list)
    for op in timeline.writer_ops:
        by_op[op.op].append(op.latency_ns)

    return Metrics(
        faults_total=len(timeline.faults),
        faults_major=major,
        vma_fallbacks=vma_fallbacks,
        refaults=refaults,
        retries_total=retries_mmap + retries_vma,
        retries_mmap=retries_mmap,
        retries_vma=retries_vma,
        fault_latency=Dist.of(latencies),
        mmap_read_acquisitions=len(read_holds),
        mmap_write_acquisitions=len(write_holds),
        trylock_failed=len(timeline.trylock_failures),
        downgrades=sum(1 for hold in holds if hold.downgrade),
        mmap_read_wait=Dist.of(hold.wait_ns for hold in read_holds),
        mmap_write_wait=Dist.of(hold.wait_ns for hold in write_holds),
        mmap_read_hold=Dist.of(hold.hold_ns for hold in all_read_holds),
        mmap_write_hold=Dist.of(hold.hold_ns for hold in write_holds),
        io_requests=len(timeline.io_requests),
        io_wait=Dist.of(request.latency_ns for request in completed_io),
        writer_ops=len(timeline.writer_ops),
        writer_latency=Dist.of(op.latency_ns for op in timeline.writer_ops),
        writer_latency_by_op=tuple((op, Dist.of(values)) for op, values in sorted(by_op.items())),
        priority_inversion_ns=priority_inversion_ns(timeline),
        makespan_ns=makespan_ns(timeline),
        threads=threads,
    )


def makespan_ns(timeline: Timeline) -> int:
    """From the first to the last fault or writer activity of the traced threads."""
    faults = timeline.faults
    if isinstance(faults, FaultTable):
        bounds = faults.start_end_bounds()
        starts = [bounds[0]] if bounds is not None else []
        ends = [bounds[1] if bounds is not None else 0]
    else:
        starts = [fault.start_ns for fault in faults[:1]]
        ends = [max((fault.end_ns for fault in faults), default=0)]
    starts += [op.start_ns for op in timeline.writer_ops[:1]]
    ends += [op.end_ns for op in timeline.writer_ops[-1:]]
    if not starts:
        return 0
    return max(0, max(ends) - min(starts))


def priority_inversion_ns(timeline: Timeline) -> int:
    """Time threads waited for mmap_lock while a lower-priority thread held it.

    For every wait (request -> acquire) of a thread with priority p, the overlap with holds
    of the same mm by threads whose priority is numerically larger (lower priority).
    """
    prio_by_tid = {lane.tid: lane.prio for lane in timeline.threads}
    holds_by_mm: dict[str, list[LockHold]] = defaultdict(list)
    for hold in timeline.mmap_lock_holds:
        holds_by_mm[hold.mm].append(hold)
    total = 0
    for mm_holds in holds_by_mm.values():
        if len({prio_by_tid.get(hold.tid, 120) for hold in mm_holds}) < 2:
            continue
        mm_holds.sort(key=lambda hold: hold.acquired_ns)
        acquired = [hold.acquired_ns for hold in mm_holds]
        longest_hold = max(hold.hold_ns for hold in mm_holds)
        for waiter in mm_holds:
            if waiter.wait_ns <= 0:
                continue
            waiter_prio = prio_by_tid.get(waiter.tid, 120)
            first = bisect_left(acquired, waiter.request_ns - longest_hold)
            last = bisect_right(acquired, waiter.acquired_ns)
            for holder in mm_holds[first:last]:
                if holder.tid == waiter.tid or prio_by_tid.get(holder.tid, 120) <= waiter_prio:
                    continue
                overlap = min(holder.released_ns, waiter.acquired_ns) - max(
                    holder.acquired_ns, waiter.request_ns
                )
                if overlap > 0:
                    total += overlap
    return total
