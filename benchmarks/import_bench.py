"""Import + reconstruction throughput on the 1M-event benchmark trace.

Prints events/s and peak RSS (this process, and the helper process that parses the tail of
a large text trace), next to a reference run in the same process: a bare line loop over the
same decompressed bytes, so the ratio survives a noisy machine.

    python benchmarks/import_bench.py [TRACE]   (default ../shared/traces/memcg-64t.txt.xz)

Goal (DESIGN.md): >= 600k events/s, <= 500 MB peak RSS; a second open from the cache <= 0.5 s.
"""

from __future__ import annotations

import lzma
import os
import resource
import sys
import tempfile
import time

from faulttui.analysis.load import load_recording

DEFAULT_TRACE = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "traces",
                             "memcg-64t.txt.xz")


def bare_line_loop_seconds(path: str) -> tuple[float, int]:
    """Decompress in the same streaming way and count lines: the floor for any importer."""
    start = time.perf_counter()
    lines = 0
    with lzma.open(path, "rb") if path.endswith(".xz") else open(path, "rb") as stream:
        for _line in stream:
            lines += 1
    return time.perf_counter() - start, lines


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TRACE
    if not os.path.exists(path):
        sys.exit(f"benchmark trace not found: {path}")
    os.environ["FAULTTUI_CACHE_DIR"] = tempfile.mkdtemp(prefix="faulttui-bench-")

    reference_s, lines = bare_line_loop_seconds(path)

    start = time.perf_counter()
    recording = load_recording(path)
    import_s = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    helper = resource.getrusage(resource.RUSAGE_CHILDREN)
    helper_rss_mb = helper.ru_maxrss / 1024
    helper_cpu_s = helper.ru_utime + helper.ru_stime

    start = time.perf_counter()
    cached = load_recording(path)
    cached_s = time.perf_counter() - start
    assert cached.from_cache

    events = recording.stats.events
    print(f"trace                 {path}")
    print(f"events                {events:,} ({lines:,} lines)")
    print(f"import+reconstruct    {import_s:.2f} s = {events / import_s:,.0f} events/s "
          f"(goal >= 600,000)")
    print(f"bare line loop        {reference_s:.2f} s = {lines / reference_s:,.0f} lines/s "
          f"(reference, same run)")
    print(f"ratio                 {import_s / reference_s:.1f}x the bare line loop")
    print(f"peak RSS              {peak_rss_mb:,.0f} MB (goal <= 500)")
    print(f"parsing helper        {helper_cpu_s:.2f} s CPU, peak RSS {helper_rss_mb:,.0f} MB "
          "(the child process that parses the tail of a large text trace)")
    print(f"second open (cache)   {cached_s:.2f} s (goal <= 0.5)")
    print(f"faults                {recording.faults.total:,}")


if __name__ == "__main__":
    main()
