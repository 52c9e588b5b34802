"""Synthetic-scenario benchmark: `ioretry` at 500 threads under `stock` and `retry-vma`.

    python benchmarks/scenario_bench.py [--threads 500] [--file-mb 8] [--rounds 1]
                                        [--memory-limit-mb 1024] [--readahead-kb 128]

The workload is simulated until every thread finished its rounds (500 threads x 8 MiB files
x 1 round = 1,024,000 faults). Prints simulated faults per second of wall time per policy
(goal >= 300k faults/s) and per CPU second, the expansion time apart, and two reference runs
in the same process (a bare Python loop resuming one generator per fault, and the 10M
additions of replay_bench.py, in CPU seconds) so the ratio survives a noisy machine.
Last, both policies at once in two forked workers, as `faulttui diff` replays them: simulated
faults of both per second of wall time.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Generator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from faulttui.analysis.parallel import run_policies, worker_count  # noqa: E402
from faulttui.model.metrics import compute_metrics  # noqa: E402
from replay import ReplayParams, Workload, get_policy, simulate  # noqa: E402
from replay.synthetic import expand, replay_params  # noqa: E402
from replay.synthetic.scenarios import get_scenario  # noqa: E402

GOAL_FAULTS_PER_S = 300_000


def reference_loop(count: int) -> float:
    """Seconds for a bare loop that resumes a generator `count` times."""
    def process() -> Generator[int, None, None]:
        while True:
            yield 1

    started = time.perf_counter()
    resume = process().send
    resume(None)
    for _ in range(count):
        resume(None)
    return time.perf_counter() - started


def reference_additions_s() -> float:
    """10M additions in a bare loop, CPU seconds (replay_bench.py's reference)."""
    started = time.process_time()
    total = 0
    for value in range(10_000_000):
        total += value
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=500)
    parser.add_argument("--file-mb", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--memory-limit-mb", type=float, default=1024)
    parser.add_argument("--readahead-kb", type=int, default=128)
    args = parser.parse_args()

    spec = get_scenario("ioretry").spec({
        "threads": args.threads, "file_mb": args.file_mb, "rounds": args.rounds,
        "memory_limit_mb": args.memory_limit_mb, "readahead_kb": args.readahead_kb})
    started = time.perf_counter()
    workload = expand(spec)
    expand_s = time.perf_counter() - started
    faults = workload.faults
    print(f"ioretry: {args.threads} threads, {args.file_mb} MiB files, {args.rounds} round(s), "
          f"{args.memory_limit_mb:g} MiB memcg, {args.readahead_kb} KiB read-around: "
          f"{faults:,} faults; expand {expand_s:.2f} s")
    reference_s = reference_loop(faults)
    print(f"reference: bare generator loop, {faults:,} resumptions: {reference_s:.2f} s "
          f"({faults / reference_s:,.0f}/s)")
    additions_s = reference_additions_s()
    print(f"reference: 10M additions: {additions_s:.2f} s CPU")
    for policy in ("stock", "retry-vma"):
        gc.collect()
        started = time.perf_counter()
        started_cpu = time.process_time()
        result = simulate(workload, get_policy(policy), replay_params(spec))
        wall_s = time.perf_counter() - started
        cpu_s = time.process_time() - started_cpu
        metrics = compute_metrics(result.timeline)  # (reads the columns: makes no record)
        done, retries, refaults = metrics.faults_total, metrics.retries_total, metrics.refaults
        rate = done / wall_s
        verdict = "meets" if rate >= GOAL_FAULTS_PER_S else "misses"
        print(f"{policy:<10} {done:,} faults, {result.events:,} events in {wall_s:.2f} s: "
              f"{rate:,.0f} faults/s ({verdict} the {GOAL_FAULTS_PER_S:,}/s goal; "
              f"{wall_s / reference_s:.1f}x the reference); CPU {cpu_s:.2f} s: "
              f"{done / cpu_s:,.0f} faults/CPU s, {cpu_s / additions_s:.1f}x the additions; "
              f"simulated {result.timeline.end_ns / 1e9:.2f} s, {result.evictions:,} evictions, "
              f"miss/drop {refaults:,}/{retries:,}")
        del result
    both_in_parallel(workload, replay_params(spec))


def both_in_parallel(workload: Workload, params: ReplayParams) -> None:
    """Both policies at once, one forked worker each, as `faulttui diff` replays them
    (the workers also compute each run's metrics, as diff needs them)."""
    policies = [get_policy("stock"), get_policy("retry-vma")]
    if worker_count(len(policies)) == 0:
        print("both at once: skipped (one core, or no fork here)")
        return
    gc.collect()
    started = time.perf_counter()
    runs = run_policies(workload, policies, params, None, keep_timelines=False)
    wall_s = time.perf_counter() - started
    done = sum(run.metrics.faults_total for run in runs)
    rate = done / wall_s
    verdict = "meets" if rate >= GOAL_FAULTS_PER_S else "misses"
    print(f"both at once (2 forked workers, with metrics): {done:,} faults in {wall_s:.2f} s: "
          f"{rate:,.0f} faults/s of wall time ({verdict} the {GOAL_FAULTS_PER_S:,}/s goal)")


if __name__ == "__main__":
    main()
