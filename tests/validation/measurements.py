"""What the validation suite measures on the built-in scenarios (shared by the tests and by
`python -m tests.validation.measurements`, which prints docs/synthetic.md's table)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass

from faulttui.model.metrics import compute_metrics
from faulttui.model.timeline import Timeline
from replay import ReplayParams, get_policy, simulate
from replay.synthetic import expand, replay_params
from replay.synthetic.scenarios import get_scenario


def run(scenario: str, params: Mapping[str, float], policy: str,
        io_latency_scale: float = 1.0) -> Timeline:
    spec = get_scenario(scenario).spec(params)
    base = replay_params(spec)
    knobs = ReplayParams(seed=base.seed, memory_limit=base.memory_limit,
                         io_latency_scale=io_latency_scale, io_model=base.io_model,
                         io_queue_depth=base.io_queue_depth)
    return simulate(expand(spec), get_policy(policy), knobs).timeline


def refault_share(timeline: Timeline) -> float:
    """Retries that found their page evicted and read it again / retries (miss/drop)."""
    retries = sum(1 for fault in timeline.faults if fault.retry_lock is not None)
    return sum(1 for fault in timeline.faults if fault.refault) / retries if retries else 0.0


def rounds_by(timeline: Timeline, horizon_ns: int) -> int:
    """ioretry rounds (munmap calls) completed by `horizon_ns`."""
    return sum(1 for op in timeline.writer_ops if op.op == "munmap" and op.end_ns <= horizon_ns)


def rounds_ratio(baseline: Timeline, other: Timeline) -> float:
    """Rounds `other` completed / rounds `baseline` completed, by the time the faster of the
    two finished all its rounds (the published test counted rounds in a fixed 600 s)."""
    horizon = min(max(op.end_ns for op in run.writer_ops if op.op == "munmap")
                  for run in (baseline, other))
    return rounds_by(other, horizon) / max(1, rounds_by(baseline, horizon))


def read_acquisitions(timeline: Timeline) -> int:
    return compute_metrics(timeline).mmap_read_acquisitions


def read_wait_total_ns(timeline: Timeline) -> int:
    return compute_metrics(timeline).mmap_read_wait.total


def writer_stall_ns(timeline: Timeline, op: str) -> float:
    """Mean latency of the `op` writer calls (syscall entry -> exit)."""
    latencies = [w.latency_ns for w in timeline.writer_ops if w.op == op]
    return sum(latencies) / len(latencies)


def fault_rate(timeline: Timeline) -> float:
    """Faults per simulated second."""
    return len(timeline.faults) / (compute_metrics(timeline).makespan_ns / 1e9)


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    metric: str
    published: str
    measured: str


# scaled down from 500 threads x 16 MiB files in a 1 GiB memcg, keeping the memcg at 1/8 of
# the mapped files (see docs/synthetic.md: the refault share falls with the file size and
# swings with the seed)
IORETRY = {"threads": 64, "file_mb": 1, "memory_limit_mb": 8, "rounds": 3}
# half the faults of the default; the non-retry read sections scaled alike
APP_LAUNCH = {"threads": 100, "faults_per_thread": 100, "proc_reads": 3200}
LARGE_VMA = {"threads": 8, "faults_per_thread": 150, "writer_ops": 20}
FORK_STORM = {"threads": 8, "faults_per_thread": 160, "forks": 10}
PFT = {"region_kb": 512, "rounds": 5}


def table() -> list[Row]:
    rows: list[Row] = []
    stock, vma = run("ioretry", IORETRY, "stock"), run("ioretry", IORETRY, "retry-vma")
    rows += [
        Row("ioretry", "miss/drop, stock", "~45 %", f"{refault_share(stock):.1%}"),
        Row("ioretry", "miss/drop, retry-vma", "< 2 %", f"{refault_share(vma):.1%}"),
        Row("ioretry", "completed rounds, retry-vma / stock", "~2.4x",
            f"{rounds_ratio(stock, vma):.2f}x"),
    ]
    stock, vma = run("app-launch", APP_LAUNCH, "stock"), run("app-launch", APP_LAUNCH, "retry-vma")
    rows += [
        Row("app-launch", "mmap_lock read acquisitions", "-71 %",
            f"{read_acquisitions(vma) / read_acquisitions(stock) - 1:+.0%}"),
        Row("app-launch", "mmap_lock read wait total", "-96 %",
            f"{read_wait_total_ns(vma) / max(1, read_wait_total_ns(stock)) - 1:+.0%}"),
    ]
    for scenario, params, op in (("large-vma", LARGE_VMA, "mprotect"),
                                 ("fork-storm", FORK_STORM, "fork")):
        for policy in ("hold-vma", "retry-vma"):
            stalls = [writer_stall_ns(run(scenario, params, policy, scale), op) / 1e6
                      for scale in (1.0, 4.0)]
            rows.append(Row(scenario, f"{op} latency, {policy}, I/O x1 -> x4 (ms)",
                            "grows with I/O" if policy == "hold-vma" else "small",
                            f"{stalls[0]:.2f} -> {stalls[1]:.2f}"))
    for policy in ("stock", "mmap-only"):
        rates = [fault_rate(run("pft", {**PFT, "threads": n}, policy)) for n in (1, 4, 16)]
        rows.append(Row("pft", f"faults/s {policy}, 1 / 4 / 16 threads",
                        "keeps scaling" if policy == "stock" else "stops scaling",
                        " / ".join(f"{rate / 1e6:.2f}M" for rate in rates)))
    return rows


def main() -> None:
    sys.stdout.write("| scenario | metric | published | measured |\n|---|---|---|---|\n")
    for row in table():
        sys.stdout.write(f"| {row.scenario} | {row.metric} | {row.published} | {row.measured} |\n")


if __name__ == "__main__":
    main()
