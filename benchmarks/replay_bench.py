"""Replay benchmark: memcg-64t under `stock`, then under all six built-in policies.

    python benchmarks/replay_bench.py [TRACE] [--engine-compare] [--fidelity TRACE ...]

Prints simulated events/s and wall time per policy, next to a reference run in the same
process (a bare Python loop), so the ratio survives a noisy machine. Goals (DESIGN.md,
2-core machine): `stock` <= 2 s, all six <= 10 s. Loading and reconstructing the trace,
and extracting its workload, are timed apart: they are not the replay.

`--engine-compare` runs the workload's thread programs as plain delays through this
engine and through SimPy (if installed), the measurement behind replay/engine.py's choice.
`--fidelity` prints the recording-vs-stock table of docs/replay.md for each TRACE.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable, Generator
from functools import partial
from pathlib import Path
from typing import cast

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from faulttui.analysis.compare import compare  # noqa: E402
from faulttui.analysis.load import load_recording  # noqa: E402
from faulttui.model.metrics import compute_metrics  # noqa: E402
from replay import (  # noqa: E402
    BUILTIN_POLICIES,
    FaultSpec,
    ReplayParams,
    ReplayResult,
    Workload,
    simulate,
)
from replay.engine import Engine  # noqa: E402
from replay.extract import extract_workload  # noqa: E402

DEFAULT_TRACE = REPO_ROOT.parent / "shared" / "traces" / "memcg-64t.txt.xz"
STOCK_GOAL_S = 2.0
ALL_GOAL_S = 10.0


def reference_loop_s() -> float:
    """A bare interpreter loop: the machine's speed right now (CPU seconds)."""
    start = time.process_time()
    total = 0
    for value in range(10_000_000):
        total += value
    return time.process_time() - start


def timed(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def timed_cpu(function: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s of this process, result): on a busy machine CPU < wall."""
    start, start_cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - start, time.process_time() - start_cpu, result


def bench_policies(workload: Workload) -> None:
    params = ReplayParams(seed=0)
    reference = reference_loop_s()
    print(f"reference loop (10M additions): {reference:.2f} s")
    print(f"{'policy':20} {'wall s':>7} {'cpu s':>6} {'x ref':>6} {'events':>9} "
          f"{'events/s':>10} {'+metrics s':>10}")
    total = total_cpu = 0.0
    stock_s = stock_cpu = 0.0
    for policy in BUILTIN_POLICIES:
        wall, cpu, outcome = timed_cpu(partial(simulate, workload, policy, params))
        result = cast(ReplayResult, outcome)
        metrics_s, _ = timed(partial(compute_metrics, result.timeline))
        events = result.events
        total += wall
        total_cpu += cpu
        if policy.id == "stock":
            stock_s, stock_cpu = wall, cpu
        print(f"{policy.id:20} {wall:7.2f} {cpu:6.2f} {cpu / reference:6.1f} {events:9,} "
              f"{events / wall:10,.0f} {metrics_s:10.2f}")
        del result, outcome
        gc.collect()
    print(f"stock: {stock_s:.2f} s wall, {stock_cpu:.2f} s CPU (goal <= {STOCK_GOAL_S} s); "
          f"all six: {total:.2f} s wall, {total_cpu:.2f} s CPU (goal <= {ALL_GOAL_S} s); "
          f"reference loop {reference:.2f} s")


def engine_compare(workload: Workload, repeats: int = 3) -> None:
    """Same processes, same delays: this engine vs SimPy, per simulated event (best of
    `repeats` runs, CPU time). Each fault becomes the four delays a stock major fault
    resumes on (gap, first attempt, I/O, retry); other operations two."""
    programs = []
    for thread in workload.threads:
        delays = []
        for op in thread.ops:
            if isinstance(op, FaultSpec):
                delays += [op.gap_ns + 1, op.cpu_ns + 1, op.io_ns + op.wake_ns + 1,
                           op.map_cpu_ns + 1]
            else:
                delays += [op.gap_ns + 1, op.hold_ns + 1]
        programs.append(delays)
    events = sum(len(delays) for delays in programs)

    class Proc:
        __slots__ = ("prio", "resume")

        def __init__(self, delays: list[int]) -> None:
            self.prio = 120
            self.resume = self.run(delays).send

        @staticmethod
        def run(delays: list[int]) -> Generator[int, None, None]:
            yield from delays

    def ours() -> None:
        engine = Engine()
        for delays in programs:
            engine.start(Proc(delays), 0)
        engine.run()

    ours_s = min(timed_cpu(ours)[1] for _ in range(repeats))
    print(f"engine-compare: {events:,} events; this engine {ours_s:.2f} s CPU "
          f"({events / ours_s:,.0f} events/s)")
    try:
        import simpy
    except ImportError:
        print("engine-compare: SimPy is not installed (pip install simpy) - skipped")
        return

    def with_simpy() -> None:
        env = simpy.Environment()

        def process(delays: list[int]) -> Generator[simpy.Event, None, None]:
            for delay in delays:
                yield env.timeout(delay)

        for delays in programs:
            env.process(process(delays))
        env.run()

    simpy_s = min(timed_cpu(with_simpy)[1] for _ in range(repeats))
    print(f"engine-compare: SimPy {simpy.__version__} {simpy_s:.2f} s CPU "
          f"({events / simpy_s:,.0f} events/s); SimPy / this engine = {simpy_s / ours_s:.1f}x")


def fidelity(paths: list[str]) -> None:
    """The recording-vs-stock table of docs/replay.md."""
    rows = [
        ("faults.total", lambda m: m.faults_total), ("faults.major", lambda m: m.faults_major),
        ("mmap_lock reads", lambda m: m.mmap_read_acquisitions),
        ("mmap_lock writes", lambda m: m.mmap_write_acquisitions),
        ("retries.mmap", lambda m: m.retries_mmap), ("downgrades", lambda m: m.downgrades),
        ("trylock_failed", lambda m: m.trylock_failed),
        ("fault latency p50 us", lambda m: m.fault_latency.p50 / 1000),
        ("fault latency p99 us", lambda m: m.fault_latency.p99 / 1000),
        ("read wait total ms", lambda m: m.mmap_read_wait.total / 1e6),
        ("write wait p99 us", lambda m: m.mmap_write_wait.p99 / 1000),
        ("writer latency p99 us", lambda m: m.writer_latency.p99 / 1000),
        ("io requests", lambda m: m.io_requests),
        ("makespan ms", lambda m: m.makespan_ns / 1e6),
    ]
    for path in paths:
        comparison = compare(load_recording(path), ["stock", "retry-vma"], ReplayParams(seed=0))
        recorded = comparison.metrics["recording"]
        stock = comparison.metrics["stock"]
        same_threads = [(t.tid, t.faults) for t in recorded.threads] == [
            (t.tid, t.faults) for t in stock.threads]
        print(f"\n{os.path.basename(path)}  (per-thread fault counts equal: {same_threads})")
        print("| metric | recording | stock replay | diff |")
        print("|---|---:|---:|---:|")
        for name, value in rows:
            recorded_value, replayed_value = value(recorded), value(stock)
            diff = (f"{(replayed_value - recorded_value) / recorded_value * 100:+.1f}%"
                    if recorded_value else "-")
            print(f"| {name} | {recorded_value:,.0f} | {replayed_value:,.0f} | {diff} |")
        retry_vma = comparison.metrics["retry-vma"].mmap_read_acquisitions
        print(f"retry-vma read acquisitions: {retry_vma:,} "
              f"({(1 - retry_vma / stock.mmap_read_acquisitions) * 100:.1f}% fewer than stock)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace", nargs="?", default=str(DEFAULT_TRACE))
    parser.add_argument("--engine-compare", action="store_true")
    parser.add_argument("--fidelity", nargs="+", metavar="TRACE")
    args = parser.parse_args()
    if args.fidelity:
        fidelity(args.fidelity)
        return
    if not Path(args.trace).exists():
        sys.exit(f"replay_bench: {args.trace} not found (pass the memcg-64t trace path)")
    load_s, recording = timed(lambda: load_recording(args.trace))
    extract_s, workload = timed(lambda: extract_workload(recording.timeline, args.trace))  # type: ignore[attr-defined]
    print(f"{os.path.basename(args.trace)}: load {load_s:.2f} s (cache: "
          f"{recording.from_cache}), extract workload {extract_s:.2f} s, "  # type: ignore[attr-defined]
          f"{workload.faults:,} faults, {len(workload.threads)} threads")  # type: ignore[attr-defined]
    if args.engine_compare:
        engine_compare(workload)  # type: ignore[arg-type]
    bench_policies(workload)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
