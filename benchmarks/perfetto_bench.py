"""Perfetto import speed against the text importer, on the same events, in the same process.

    python benchmarks/perfetto_bench.py [TEXT_TRACE] [--flavour compact-dense] [--runs 2]

The text trace (default: the 1.07M-event memcg-64t) is converted once to a Perfetto trace
(compact sched + dense generic events, zlib-compressed packets: what a current Perfetto
writes) and cached in the temp directory. Then both importers stream all events, alternately,
`--runs` times each; the best times, their events/s and the ratio are printed. Goal: the
Perfetto import within 1.5x of the text import.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from perfetto_fixtures import FLAVOURS, convert_text_trace  # noqa: E402

from faulttui.importers import open_trace  # noqa: E402
from faulttui.importers.events import ImportStats  # noqa: E402
from faulttui.importers.perfetto import read_perfetto  # noqa: E402

DEFAULT_TRACE = "/work/shared/traces/memcg-64t.txt.xz"


def converted(text_trace: Path, flavour: str) -> Path:
    """The Perfetto form of `text_trace`, converted once and cached by the file's identity."""
    status = text_trace.stat()
    cache = Path(tempfile.gettempdir()) / "faulttui-perfetto-bench"
    cache.mkdir(exist_ok=True)
    target = cache / f"{text_trace.name}.{status.st_size}.{status.st_mtime_ns}.{flavour}.pftrace"
    if not target.exists():
        print(f"converting {text_trace} to {flavour} (once) ...", file=sys.stderr)
        partial = target.with_suffix(".partial")
        convert_text_trace(str(text_trace), str(partial), FLAVOURS[flavour])
        os.replace(partial, target)
    return target


def time_text(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    count = sum(1 for _ in open_trace(str(path)).events())
    return time.perf_counter() - start, count


def time_perfetto(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    stats = ImportStats(path=str(path))
    with open(path, "rb") as stream:
        count = sum(1 for _ in read_perfetto(str(path), stream, stats))
    return time.perf_counter() - start, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", default=DEFAULT_TRACE)
    parser.add_argument("--flavour", default="compact-dense", choices=sorted(FLAVOURS))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--no-gc", action="store_true",
                        help="disable the cyclic GC while importing (as `load_recording` does)")
    args = parser.parse_args()
    text_trace = Path(args.trace)
    if not text_trace.exists():
        print(f"{text_trace}: no such trace", file=sys.stderr)
        return 2
    perfetto_trace = converted(text_trace, args.flavour)
    if args.no_gc:
        gc.disable()
    text_times, perfetto_times = [], []
    text_events = perfetto_events = 0
    for _ in range(args.runs):
        elapsed, text_events = time_text(text_trace)
        text_times.append(elapsed)
        elapsed, perfetto_events = time_perfetto(perfetto_trace)
        perfetto_times.append(elapsed)
    if text_events != perfetto_events:
        print(f"event counts differ: text {text_events}, perfetto {perfetto_events}",
              file=sys.stderr)
        return 1
    best_text, best_perfetto = min(text_times), min(perfetto_times)
    size_mb = perfetto_trace.stat().st_size / 1e6
    print(f"events              {text_events:,}")
    print(f"text importer       {best_text:6.2f} s  {text_events / best_text:>10,.0f} events/s"
          f"  ({text_trace.name})")
    print(f"perfetto importer   {best_perfetto:6.2f} s  {perfetto_events / best_perfetto:>10,.0f}"
          f" events/s  ({args.flavour}, {size_mb:.1f} MB)")
    print(f"ratio perfetto/text {best_perfetto / best_text:6.2f}  (goal <= 1.50)")
    print(f"peak RSS            {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:6.0f} MB"
          " (whole process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
