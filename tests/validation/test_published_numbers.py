"""The model against the numbers published on linux-mm (docs/synthetic.md, "What the model
reproduces"). Each test asserts the direction and a stated band, on scaled-down scenarios."""

from __future__ import annotations

import pytest
from measurements import (
    APP_LAUNCH,
    FORK_STORM,
    IORETRY,
    LARGE_VMA,
    PFT,
    fault_rate,
    read_acquisitions,
    read_wait_total_ns,
    refault_share,
    rounds_ratio,
    run,
    writer_stall_ns,
)


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(tmp_path))


def test_ioretry_retry_vma_stops_refaults_and_completes_more_rounds() -> None:
    stock, retry_vma = run("ioretry", IORETRY, "stock"), run("ioretry", IORETRY, "retry-vma")
    # published: ~45 % of stock retries re-read storage; < 2 % under retry-vma.
    # the model at this scale (two-list LRU reclaim): 28 % under stock at seed 0 (9-28 %
    # over seeds 0-2, hence the band 5-50 %), none under retry-vma
    assert 0.05 <= refault_share(stock) <= 0.5
    assert refault_share(retry_vma) < 0.02
    # published ~2.4x more rounds; the model: 1.60x at seed 0 (1.30-1.60x over seeds 0-2)
    assert 1.2 <= rounds_ratio(stock, retry_vma) <= 3.0


def test_app_launch_retry_vma_cuts_mmap_lock_reads_and_their_wait() -> None:
    stock = run("app-launch", APP_LAUNCH, "stock")
    retry_vma = run("app-launch", APP_LAUNCH, "retry-vma")
    # published -71 % read acquisitions, -96 % total read wait (Douyin). The share of reads
    # that are not fault retries is an input (proc_reads, set from Douyin's 5.7k residual);
    # the wait reduction is the model's own
    acquisitions = read_acquisitions(retry_vma) / read_acquisitions(stock) - 1
    wait = read_wait_total_ns(retry_vma) / read_wait_total_ns(stock) - 1
    assert -0.85 <= acquisitions <= -0.6
    assert wait <= -0.7


@pytest.mark.parametrize(("scenario", "params", "op"), [
    ("large-vma", LARGE_VMA, "mprotect"), ("fork-storm", FORK_STORM, "fork")])
def test_hold_vma_writer_stall_grows_with_io_latency(scenario: str, params: dict[str, float],
                                                     op: str) -> None:
    hold = [writer_stall_ns(run(scenario, params, "hold-vma", s), op) for s in (1.0, 4.0)]
    retry = [writer_stall_ns(run(scenario, params, "retry-vma", s), op) for s in (1.0, 4.0)]
    # hold-vma: the writer waits for I/O held under the VMA lock, so 4x the latency is
    # at least 2.5x the stall; retry-vma: the stall does not depend on I/O (within 20 %)
    assert hold[1] >= 2.5 * hold[0]
    assert retry[1] <= 1.2 * retry[0]
    assert hold[0] >= 3 * retry[0]


def test_pft_mmap_only_stops_scaling_where_stock_keeps_scaling() -> None:
    stock = [fault_rate(run("pft", {**PFT, "threads": n}, "stock")) for n in (1, 16)]
    mmap_only = [fault_rate(run("pft", {**PFT, "threads": n}, "mmap-only")) for n in (1, 16)]
    assert stock[1] >= 4 * stock[0]  # 16 threads: at least 4x one thread's throughput
    assert mmap_only[1] <= 2 * mmap_only[0]  # mmap_lock writers serialize everyone
    assert stock[0] == pytest.approx(mmap_only[0], rel=0.05)  # one thread: the same
