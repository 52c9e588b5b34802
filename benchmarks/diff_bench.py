"""Benchmark: `faulttui diff memcg-64t -p retry-vma -p hold-vma --format html`, end to end.

Goal (issue 7): <= 8 s. Runs the real command in a subprocess (interpreter start, import,
reconstruction, the stock/retry-vma/hold-vma replays, metrics, report, HTML), twice: with an
empty cache directory (cold) and again with the cache the first run wrote (warm). Next to it,
a reference measured in this process: a bare loop over the decompressed lines of the same
file, so the ratio survives a noisy machine.

    python benchmarks/diff_bench.py [--trace PATH] [--keep-html FILE] [--breakdown]

`--breakdown` also times the stages in this process (warm cache): load, compare (workload
extraction, the three replays, every timeline's metrics), and the report (build + HTML).
"""

from __future__ import annotations

import argparse
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULT_TRACE = "/work/shared/traces/memcg-64t.txt.xz"
GOAL_S = 8.0


def reference_line_loop(path: str) -> tuple[float, int]:
    """Seconds to decompress and iterate the trace's lines, and how many there are."""
    start = time.perf_counter()
    lines = 0
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rb") as trace:
        for _ in trace:
            lines += 1
    return time.perf_counter() - start, lines


def run_diff(trace: str, output: str, cache_dir: str) -> float:
    command = [sys.executable, "-m", "faulttui", "diff", trace, "-p", "retry-vma",
               "-p", "hold-vma", "--format", "html", "-o", output]
    environment = {**os.environ, "FAULTTUI_CACHE_DIR": cache_dir}
    start = time.perf_counter()
    finished = subprocess.run(command, env=environment, capture_output=True, text=True,
                              check=False)
    elapsed = time.perf_counter() - start
    if finished.returncode != 0:
        sys.exit(f"diff_bench: `{' '.join(command)}` exited {finished.returncode}: "
                 f"{finished.stderr.strip()}")
    return elapsed


def stage_breakdown(trace: str, cache_dir: str) -> list[tuple[str, float]]:
    """Seconds per stage of the same diff, in this process, reading the cache `cache_dir`."""
    os.environ["FAULTTUI_CACHE_DIR"] = cache_dir
    from faulttui import __version__
    from faulttui.analysis.compare import compare
    from faulttui.analysis.load import load_recording
    from faulttui.report.html import render_html
    from faulttui.report.model import ReportInput, build_report
    from replay import ReplayParams

    stages: list[tuple[str, float]] = []
    start = time.perf_counter()
    recording = load_recording(trace)
    stages.append(("load (cached)" if recording.from_cache else "load", time.perf_counter() - start))
    start = time.perf_counter()
    params = ReplayParams()
    comparison = compare(recording, ["stock", "retry-vma", "hold-vma"], params)
    stages.append(("compare: extract + 3 replays + metrics", time.perf_counter() - start))
    start = time.perf_counter()
    report = build_report(ReportInput(
        trace=trace, version=__version__, params=params.to_json(),
        metrics=comparison.metrics, baseline="stock", policies=("retry-vma", "hold-vma")))
    render_html(report)
    stages.append(("report: build + html", time.perf_counter() - start))
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default=DEFAULT_TRACE)
    parser.add_argument("--keep-html", metavar="FILE", help="copy the report here")
    parser.add_argument("--breakdown", action="store_true", help="also time each stage")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="faulttui-diff-bench-")
    try:
        output = os.path.join(work, "report.html")
        cache_dir = os.path.join(work, "cache")
        reference_s, lines = reference_line_loop(args.trace)
        cold_s = run_diff(args.trace, output, cache_dir)
        warm_s = run_diff(args.trace, output, cache_dir)
        size = os.path.getsize(output)
        if args.keep_html:
            shutil.copyfile(output, args.keep_html)
        stages = stage_breakdown(args.trace, cache_dir) if args.breakdown else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"trace: {args.trace} ({lines:,} lines)")
    print(f"reference: bare line loop over the decompressed trace: {reference_s:.2f} s")
    for label, seconds in (("cold cache", cold_s), ("warm cache", warm_s)):
        verdict = "ok" if seconds <= GOAL_S else "OVER"
        print(f"diff -p retry-vma -p hold-vma --format html, {label}: {seconds:.2f} s "
              f"({seconds / reference_s:.1f}x the reference; goal <= {GOAL_S:g} s: {verdict})")
    print(f"report: {size:,} bytes of HTML")
    for label, seconds in stages:
        print(f"  stage {label}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
