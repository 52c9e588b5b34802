"""Policy behaviour on tiny hand-made workloads: what DOMAIN.md says each policy does."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from faulttui.model.metrics import compute_metrics
from faulttui.model.timeline import (
    AttemptLock,
    AttemptOutcome,
    FilePage,
    RetryReason,
    SpanState,
    Timeline,
    Vma,
)
from replay import (
    BUILTIN_POLICIES,
    FaultSpec,
    ReplayParams,
    ThreadProgram,
    Workload,
    WriterSpec,
    get_policy,
    simulate,
)
from replay.workload import NO_PAGE, Operation, workload_from_json, workload_to_json

MM = "mm-1"
US = 1_000
IO_NS = 500 * US
FILE_VMA, OTHER_VMA = 0, 1


def fault(fault_id: int, page: int = NO_PAGE, gap_ns: int = 0, io_ns: int = IO_NS,
          vma_id: int = FILE_VMA, cached: bool = False, cpu_ns: int = 2 * US,
          map_cpu_ns: int = US, wake_ns: int = 0, fallback_cpu_ns: int = -1) -> FaultSpec:
    return FaultSpec(gap_ns=gap_ns, fault_id=fault_id, mm=MM, address=0x1000 * fault_id,
                     vma_id=vma_id, anon=page == NO_PAGE, page_key=page, cached=cached,
                     io_ns=io_ns if page != NO_PAGE and not cached else 0, cpu_ns=cpu_ns,
                     map_cpu_ns=map_cpu_ns, prio=120, wake_ns=wake_ns,
                     fallback_cpu_ns=fallback_cpu_ns)


def writer(gap_ns: int, vma_ids: tuple[int, ...] = (FILE_VMA,), hold_ns: int = 10 * US,
           op: str = "mprotect", downgraded_ns: int = -1) -> WriterSpec:
    return WriterSpec(gap_ns=gap_ns, op=op, mm=MM, addr=0, length=4096, vma_ids=vma_ids,
                      before_lock_ns=US, hold_ns=hold_ns, after_ns=US,
                      downgraded_ns=downgraded_ns)


def workload(*programs: Sequence[Operation], pages: int = 8, resident: tuple[int, ...] = (),
             capacity: int | None = None) -> Workload:
    threads = tuple(ThreadProgram(100 + index, 100, f"t{index}", 120, tuple(ops))
                    for index, ops in enumerate(programs))
    return Workload(
        source="hand-made", start_ns=0, end_ns=10**9, threads=threads,
        vmas=(Vma(FILE_VMA, MM, 0, 1 << 30, "file"), Vma(OTHER_VMA, MM, 1 << 30, 1 << 31, "anon")),
        pages=tuple(FilePage("254:0", 7, index * 4096) for index in range(pages)),
        resident_pages=resident, page_cache_pages=capacity)


def replay(work: Workload, policy: str, **params: object) -> Timeline:
    return simulate(work, get_policy(policy), ReplayParams(**params)).timeline  # type: ignore[arg-type]


def states(timeline: Timeline, tid: int) -> list[str]:
    lane = timeline.thread(tid)
    assert lane is not None
    return [span.state.label for span in lane.spans()]


def test_stock_major_fault_drops_the_vma_lock_and_retries_under_mmap_lock() -> None:
    timeline = replay(workload([fault(1, page=0)]), "stock")
    (replayed,) = timeline.faults
    assert [(a.lock, a.outcome) for a in replayed.attempts] == [
        (AttemptLock.VMA, AttemptOutcome.RETRY), (AttemptLock.MMAP_READ, AttemptOutcome.DONE)]
    assert replayed.retry_lock is AttemptLock.MMAP_READ
    assert replayed.retry_reason is RetryReason.IO
    assert replayed.latency_ns == 2 * US + IO_NS + US
    assert states(timeline, 100) == ["fault:vma", "io-wait", "fault:mmap-read"]
    metrics = compute_metrics(timeline)
    assert (metrics.mmap_read_acquisitions, metrics.retries_mmap, metrics.faults_major) == (1, 1, 1)
    (hold,) = timeline.mmap_lock_holds
    assert (hold.mm, hold.tid, hold.write, hold.fault_id, hold.purpose, hold.trylock) == (
        MM, 100, False, 1, "fault-retry", True)
    assert hold.request_ns == hold.acquired_ns == replayed.attempts[1].start_ns
    assert hold.released_ns == replayed.end_ns and hold.released and not hold.downgrade
    (request,) = timeline.io_requests
    assert (request.tid, request.fault_id, request.latency_ns) == (100, 1, IO_NS)


def test_replayed_fault_keeps_the_workload_identity() -> None:
    spec = fault(42, page=3)
    (replayed,) = replay(workload([spec]), "stock").faults
    assert (replayed.fault_id, replayed.tid, replayed.mm, replayed.address, replayed.vma_id) == (
        42, 100, MM, spec.address, FILE_VMA)
    assert replayed.page == FilePage("254:0", 7, 3 * 4096)
    assert replayed.io_requests == 1 and replayed.io_latency_ns == IO_NS
    assert replayed.window_io_sleep and replayed.window_retry_mmap
    assert not replayed.window_vma_only and not replayed.window_mmap_fallback


def test_minor_faults_stay_under_the_vma_lock() -> None:
    timeline = replay(workload([fault(1, page=0, cached=True), fault(2)], resident=(0,)), "stock")
    assert all(f.window_vma_only and not f.major for f in timeline.faults)
    assert compute_metrics(timeline).mmap_read_acquisitions == 0


def test_retry_vma_retries_under_the_vma_lock() -> None:
    timeline = replay(workload([fault(1, page=0), fault(2, page=1)]), "retry-vma")
    assert [f.retry_lock for f in timeline.faults] == [AttemptLock.VMA, AttemptLock.VMA]
    assert compute_metrics(timeline).mmap_read_acquisitions == 0


def test_retry_vma_falls_back_to_mmap_lock_when_the_vma_is_write_locked() -> None:
    # the writer write-locks the file VMA across the moment the I/O completes
    work = workload([fault(1, page=0)],
                    [writer(gap_ns=IO_NS - 50 * US, hold_ns=200 * US)])
    (replayed,) = replay(work, "retry-vma").faults
    assert [(a.lock, a.outcome) for a in replayed.attempts] == [
        (AttemptLock.VMA, AttemptOutcome.RETRY), (AttemptLock.VMA, AttemptOutcome.FALLBACK),
        (AttemptLock.MMAP_READ, AttemptOutcome.DONE)]
    assert replayed.retry_lock is AttemptLock.MMAP_READ
    assert replayed.attempts[-1].lock_wait_ns > 0  # queued behind the writer


def test_stock_retry_queues_behind_a_writer_after_a_failed_trylock() -> None:
    work = workload([fault(1, page=0)], [writer(gap_ns=IO_NS - 50 * US, vma_ids=(OTHER_VMA,),
                                                hold_ns=200 * US)])
    timeline = replay(work, "stock")
    (replayed,) = timeline.faults
    assert len(timeline.trylock_failures) == 1 and replayed.attempts[-1].trylock_failed
    writer_end = timeline.writer_ops[0].start_ns + US + 200 * US
    assert replayed.attempts[-1].start_ns + replayed.attempts[-1].lock_wait_ns == writer_end
    assert "wait:mmap-read" in states(timeline, 100)


def test_hold_vma_never_retries_and_a_writer_of_that_vma_waits_for_the_io() -> None:
    work = workload([fault(1, page=0)], [writer(gap_ns=10 * US)])
    timeline = replay(work, "hold-vma")
    (replayed,) = timeline.faults
    assert replayed.retry_lock is None and len(replayed.attempts) == 1
    assert replayed.attempts[0].io_wait_held_ns == IO_NS - 0  # slept holding the VMA lock
    assert "io-wait:holding-vma" in states(timeline, 100)
    (op,) = timeline.writer_ops
    # the writer asked at 11us; the VMA reader leaves at 2us + IO + 1us of mapping
    waited = op.latency_ns - (US + 10 * US + US)
    assert abs(waited - IO_NS) < 0.05 * IO_NS
    stock_op = replay(work, "stock").writer_ops[0]
    assert stock_op.latency_ns == US + 10 * US + US


def test_hold_vma_does_not_delay_a_writer_of_another_vma() -> None:
    work = workload([fault(1, page=0)], [writer(gap_ns=10 * US, vma_ids=(OTHER_VMA,))])
    (op,) = replay(work, "hold-vma").writer_ops
    assert op.latency_ns == 12 * US


def test_mmap_only_takes_mmap_lock_for_every_fault() -> None:
    work = workload([fault(1, page=0), fault(2), fault(3, page=1, cached=True)], resident=(1,))
    timeline = replay(work, "mmap-only")
    assert all(not f.window_vma_only for f in timeline.faults)
    assert all(a.lock is AttemptLock.MMAP_READ for f in timeline.faults for a in f.attempts)
    # one acquisition per attempt: the major fault's first attempt and its retry, then 1 + 1
    assert compute_metrics(timeline).mmap_read_acquisitions == 4


def test_hold_mmap_holds_mmap_lock_across_the_io() -> None:
    work = workload([fault(1, page=0)], [writer(gap_ns=10 * US, vma_ids=(OTHER_VMA,))])
    timeline = replay(work, "hold-mmap")
    (replayed,) = timeline.faults
    assert replayed.retry_lock is None
    assert "io-wait:holding-mmap" in states(timeline, 100)
    (hold,) = [h for h in timeline.mmap_lock_holds if not h.write]
    assert hold.hold_ns == 2 * US + IO_NS + US
    assert timeline.writer_ops[0].mmap_write_wait_ns > IO_NS * 0.9


def test_a_second_fault_on_a_page_being_read_waits_on_the_folio() -> None:
    work = workload([fault(1, page=0)], [fault(2, page=0, gap_ns=100 * US)])
    first, second = replay(work, "stock").faults
    assert first.io_requests == 1 and second.io_requests == 0
    assert second.retry_reason is RetryReason.FOLIO_LOCK
    assert second.end_ns >= first.attempts[0].end_ns + IO_NS


def test_retry_vma_uptodate_waits_for_a_busy_uptodate_folio_without_dropping() -> None:
    # thread 0 maps resident page 0 for 300 us (holding the folio lock); thread 1 faults it
    work = workload([fault(1, page=0, cached=True, cpu_ns=300 * US)],
                    [fault(2, page=0, cached=True, gap_ns=10 * US)], resident=(0,))
    dropped = replay(work, "retry-vma").faults[1]
    held = replay(work, "retry-vma-uptodate").faults[1]
    assert dropped.retry_reason is RetryReason.FOLIO_LOCK and dropped.retry_lock is AttemptLock.VMA
    assert held.retry_lock is None and held.attempts[0].io_wait_held_ns > 0


def waits_behind_a_writer(capacity: int | None = None) -> Workload:
    """Thread 0 reads page 0 (done at 102 us) and retries at once; a writer holds mmap_lock
    from 51 to 451 us; thread 1 reads page 1 at 150 us (with capacity 1, evicting page 0)."""
    return workload([fault(1, page=0, io_ns=100 * US)],
                    [fault(2, page=1, io_ns=100 * US, gap_ns=150 * US)],
                    [writer(gap_ns=50 * US, vma_ids=(OTHER_VMA,), hold_ns=400 * US)],
                    capacity=capacity)


def test_page_evicted_while_the_retry_waits_for_mmap_lock_is_read_again_holding_it() -> None:
    # the Wilcox scenario: the stock retry queues behind the writer, its page goes meanwhile
    stock = replay(waits_behind_a_writer(capacity=1), "stock").faults[0]
    assert stock.refault and stock.io_requests == 2
    assert stock.attempts[-1].lock is AttemptLock.MMAP_READ
    assert stock.attempts[-1].lock_wait_ns > 300 * US
    assert stock.attempts[-1].io_wait_held_ns > 0  # FAULT_FLAG_TRIED: no second drop
    # retry-vma does not wait for the writer: its page is still there
    retry_vma = replay(waits_behind_a_writer(capacity=1), "retry-vma").faults[0]
    assert not retry_vma.refault and retry_vma.attempts[-1].lock is AttemptLock.VMA
    assert not replay(waits_behind_a_writer(), "stock").faults[0].refault  # no memory limit


def test_a_fault_asleep_on_its_page_keeps_it_from_reclaim() -> None:
    """filemap_fault sleeps, then waits for a CPU, holding a folio reference (dropped at
    out_retry): a long recorded wake-up delay is no window for reclaim."""
    work = workload([fault(1, page=0, io_ns=100 * US, wake_ns=400 * US)],
                    [fault(2, page=1, io_ns=100 * US, gap_ns=150 * US)], capacity=1)
    for policy in ("stock", "retry-vma"):
        assert not replay(work, policy).faults[0].refault


def test_memory_limit_knob_overrides_the_recorded_page_cache() -> None:
    assert replay(waits_behind_a_writer(), "stock", memory_limit=4096).faults[0].refault


def test_io_latency_scale_stretches_the_io() -> None:
    (replayed,) = replay(workload([fault(1, page=0)]), "stock", io_latency_scale=3.0).faults
    assert replayed.io_latency_ns == 3 * IO_NS


def test_intrinsic_vma_fallback_is_replayed() -> None:
    (replayed,) = replay(workload([fault(1, fallback_cpu_ns=3 * US)]), "stock").faults
    assert replayed.vma_fallback and replayed.window_mmap_fallback
    assert [a.outcome for a in replayed.attempts] == [AttemptOutcome.FALLBACK, AttemptOutcome.DONE]


def test_munmap_downgrade_lets_readers_in() -> None:
    work = workload([fault(1, gap_ns=20 * US, fallback_cpu_ns=0)],
                    [writer(gap_ns=0, vma_ids=(OTHER_VMA,), op="munmap", hold_ns=10 * US,
                            downgraded_ns=100 * US)])
    timeline = replay(work, "stock")
    assert compute_metrics(timeline).downgrades == 1
    (replayed,) = timeline.faults
    assert replayed.attempts[-1].lock_wait_ns == 0  # shares the downgraded lock


def test_spans_are_sorted_and_disjoint_for_every_policy() -> None:
    work = workload([fault(1, page=0), fault(2, gap_ns=5 * US), fault(3, page=1)],
                    [writer(gap_ns=10 * US), writer(gap_ns=600 * US, vma_ids=(OTHER_VMA,))],
                    [fault(4, page=1, gap_ns=30 * US), fault(5, page=2, fallback_cpu_ns=0)])
    for policy in BUILTIN_POLICIES:
        timeline = replay(work, policy.id)
        assert timeline.name == policy.id
        for lane in timeline.threads:
            spans = list(lane.spans())
            assert all(span.start_ns < span.end_ns for span in spans)
            assert all(a.end_ns <= b.start_ns for a, b in itertools.pairwise(spans))
            assert all(isinstance(span.state, SpanState) for span in spans)
        assert len(timeline.faults) == 5 and len(timeline.writer_ops) == 2


def test_same_seed_same_timeline_and_json_roundtrip() -> None:
    work = workload([fault(1, page=0, io_ns=0), fault(2, page=1, io_ns=0)],
                    [fault(3, page=2, io_ns=150 * US)])
    again = workload_from_json(workload_to_json(work))
    assert again == work
    first = compute_metrics(replay(work, "stock", seed=7)).to_json()
    assert compute_metrics(replay(again, "stock", seed=7)).to_json() == first


def test_progress_reporting_does_not_change_the_replay() -> None:
    work = workload([fault(1, page=0), fault(2, page=1, gap_ns=10 * US)],
                    [writer(gap_ns=100 * US), fault(3, page=0, gap_ns=5 * US)])
    seen: list[tuple[int, int]] = []
    with_progress = simulate(work, get_policy("stock"), ReplayParams(),
                             progress=lambda done, total: seen.append((done, total)))
    plain = simulate(work, get_policy("stock"), ReplayParams())
    assert compute_metrics(with_progress.timeline).to_json() == (
        compute_metrics(plain.timeline).to_json())
    assert seen and seen[-1] == (3, 3)
