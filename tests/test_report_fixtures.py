"""Hand-made metrics for the report tests (no replay numbers, so golden files stay put).

Imported by the test_diff*/test_report* modules; holds no tests itself.
"""

from __future__ import annotations

from faulttui.model.metrics import Dist, Metrics, ThreadMetrics
from faulttui.report.model import ReportInput

US = 1_000
MS = 1_000_000

# a thread name straight from a hostile trace: markup that must show as text everywhere
HOSTILE_COMM = "<img src=x>"


def _spread(low: int, high: int, count: int) -> list[int]:
    """`count` values from low to high, geometric, deterministic."""
    if count == 1:
        return [low]
    ratio = (high / low) ** (1 / (count - 1))
    return [round(low * ratio**index) for index in range(count)]


def make_metrics(*, latency_scale: float, mmap_reads: int, retries_mmap: int, retries_vma: int,
                 read_wait_scale: float, writer_scale: float, refaults: int = 0) -> Metrics:
    latencies = [int(value * latency_scale) for value in _spread(800, 900 * US, 400)]
    read_waits = [int(value * read_wait_scale) for value in _spread(200, 2 * MS, mmap_reads)] \
        if mmap_reads else []
    write_waits = [int(value * writer_scale) for value in _spread(500, 300 * US, 40)]
    mmap_ops = [int(value * writer_scale) for value in _spread(2 * US, 80 * US, 20)]
    mprotect_ops = [int(value * writer_scale) for value in _spread(3 * US, 400 * US, 20)]
    threads = (
        ThreadMetrics(101, "faultload", 200, Dist.of(latencies[:200]), int(40 * US
                                                                         * read_wait_scale)),
        ThreadMetrics(102, HOSTILE_COMM, 150, Dist.of(latencies[200:350]),
                      int(90 * US * read_wait_scale)),
        ThreadMetrics(103, "a|b_c*`d`", 50, Dist.of(latencies[350:]), 0),
    )
    return Metrics(
        faults_total=400, faults_major=380, vma_fallbacks=12, refaults=refaults,
        retries_total=retries_mmap + retries_vma, retries_mmap=retries_mmap,
        retries_vma=retries_vma, fault_latency=Dist.of(latencies),
        mmap_read_acquisitions=mmap_reads, mmap_write_acquisitions=40, trylock_failed=3,
        downgrades=5, mmap_read_wait=Dist.of(read_waits), mmap_write_wait=Dist.of(write_waits),
        mmap_read_hold=Dist.of(_spread(500, 20 * US, max(mmap_reads, 1))),
        mmap_write_hold=Dist.of(_spread(900, 50 * US, 40)), io_requests=380,
        io_wait=Dist.of(_spread(50 * US, 400 * US, 380)), writer_ops=40,
        writer_latency=Dist.of(mmap_ops + mprotect_ops),
        writer_latency_by_op=(("mmap", Dist.of(mmap_ops)), ("mprotect", Dist.of(mprotect_ops))),
        priority_inversion_ns=int(120 * US * read_wait_scale), makespan_ns=int(2 * 10**9
                                                                              * latency_scale),
        threads=threads,
    )


def sample_metrics() -> dict[str, Metrics]:
    """A recording, `stock` close to it, `retry-vma` better, `hold-vma` worse for writers."""
    return {
        "recording": make_metrics(latency_scale=1.0, mmap_reads=390, retries_mmap=370,
                                  retries_vma=0, read_wait_scale=1.0, writer_scale=1.0),
        "stock": make_metrics(latency_scale=1.02, mmap_reads=395, retries_mmap=372,
                              retries_vma=0, read_wait_scale=1.1, writer_scale=1.0, refaults=40),
        "retry-vma": make_metrics(latency_scale=0.7, mmap_reads=20, retries_mmap=4,
                                  retries_vma=368, read_wait_scale=0.2, writer_scale=0.9),
        "hold-vma": make_metrics(latency_scale=0.8, mmap_reads=0, retries_mmap=0, retries_vma=0,
                                 read_wait_scale=0.0, writer_scale=6.0),
    }


def sample_input(**overrides: object) -> ReportInput:
    fields: dict[str, object] = {
        "trace": "traces/sample <b>.txt.xz",
        "version": "0.1.0",
        "params": {"seed": 0, "memory_limit": None, "io_latency_scale": 1.0},
        "metrics": sample_metrics(),
        "baseline": "stock",
        "policies": ("retry-vma", "hold-vma"),
        "rerun": "faulttui diff 'traces/sample <b>.txt.xz' --baseline stock -p retry-vma "
                 "-p hold-vma --seed 0 --io-latency-scale 1",
        "top_threads": 2,
    }
    fields.update(overrides)
    return ReportInput(**fields)  # type: ignore[arg-type]
