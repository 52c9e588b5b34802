"""TUI benchmark: time to first frame (cold and cached) and key-press-to-frame times.

    python benchmarks/tui_bench.py [TRACE] [--presses N]

Drives the real app headless with Textual's Pilot. A "frame" is the app handing a rendered
screen update to the driver (App._display), timed by wrapping that method. Goals (DESIGN.md):
first frame <= 3 s cold, <= 1 s cached; key to frame <= 50 ms. Next to the cold figure it prints
a reference run in the same process (a bare decompress-and-split-lines loop over the same file),
so the ratio survives a noisy machine. Each first frame is measured in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import lzma
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faulttui.tui.app import FaultTuiApp

# faulttui and textual are imported inside the functions, so a first frame measured in a
# fresh interpreter counts their import time too (a user's `faulttui open` pays it).
MODULE_START = time.perf_counter()
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

DEFAULT_TRACE = "/work/shared/traces/memcg-64t.txt.xz"
SIZE = (160, 50)


class FrameClock:
    """Records when the app hands frames to the driver."""

    def __init__(self, app: FaultTuiApp) -> None:
        self.frames: list[float] = []
        original: Callable[..., Any] = app._display

        def display(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            self.frames.append(time.perf_counter())
            return result

        app._display = display  # type: ignore[method-assign]

    def first_after(self, start: float) -> float | None:
        return next((frame for frame in self.frames if frame >= start), None)


async def first_frame_s(trace: str, start: float) -> tuple[float, bool]:
    from faulttui.tui.app import FaultTuiApp
    from faulttui.tui.main_screen import MainScreen

    app = FaultTuiApp(trace)
    clock = FrameClock(app)
    async with app.run_test(size=SIZE) as pilot:
        while not isinstance(app.screen, MainScreen):
            if app.failure is not None:
                raise app.failure
            await pilot.pause(0.01)
        shown_at = time.perf_counter()
        await pilot.pause()
        frame = clock.first_after(shown_at) or time.perf_counter()
        assert app.session is not None
        return frame - start, app.session.recording.from_cache


async def key_to_frame_ms(trace: str, presses: int) -> dict[str, float]:
    from faulttui.tui.app import FaultTuiApp
    from faulttui.tui.main_screen import MainScreen

    app = FaultTuiApp(trace)
    clock = FrameClock(app)
    scenarios: dict[str, list[str]] = {
        "zoom (w/s)": ["w", "w", "w", "s", "s", "s"],
        "pan (d/a)": ["d", "d", "a", "a"],
        "next fault (n)": ["n"],
        "thread scroll (j/k)": ["j", "j", "j", "k"],
    }
    results: dict[str, float] = {}
    async with app.run_test(size=SIZE) as pilot:
        while not isinstance(app.screen, MainScreen):
            if app.failure is not None:
                raise app.failure
            await pilot.pause(0.01)
        await pilot.pause()
        await pilot.press("j", "j", "w", "w", "w")  # a busy thread, a mid zoom level
        await pilot.pause()
        for name, keys in scenarios.items():
            timings = []
            for press in range(presses):
                key = keys[press % len(keys)]
                start = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                frame = clock.first_after(start)
                if frame is not None:
                    timings.append((frame - start) * 1000)
            results[name] = statistics.median(timings) if timings else float("nan")
    return results


def cached_load_s(trace: str) -> float:
    """load_recording alone from the cache (the part of a cached first frame outside the TUI)."""
    from faulttui.analysis.load import load_recording

    start = time.perf_counter()
    recording = load_recording(trace)
    assert recording.from_cache
    return time.perf_counter() - start


def reference_line_loop_s(trace: str) -> float:
    start = time.perf_counter()
    opener = lzma.open if trace.endswith(".xz") else open
    with opener(trace, "rb") as stream:
        for _line in stream:
            pass
    return time.perf_counter() - start


def first_frame_in_fresh_process(trace: str) -> tuple[float, bool]:
    """Time to first frame in a new interpreter, as a user's `faulttui open` would see it
    (a second run in this process would pay for the first run's garbage)."""
    output = subprocess.run(
        [sys.executable, __file__, trace, "--first-frame-only"], check=True,
        capture_output=True, text=True, env=os.environ.copy(),
    ).stdout.split()
    return float(output[0]), output[1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", default=DEFAULT_TRACE)
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--first-frame-only", action="store_true",
                        help="(internal) print one first-frame time and whether it was cached")
    args = parser.parse_args()
    if args.first_frame_only:
        seconds, cached = asyncio.run(first_frame_s(args.trace, MODULE_START))
        print(seconds, cached)
        return
    with tempfile.TemporaryDirectory(prefix="faulttui-bench-cache-") as cache:
        os.environ["FAULTTUI_CACHE_DIR"] = cache
        reference = reference_line_loop_s(args.trace)
        cold, cold_cached = first_frame_in_fresh_process(args.trace)
        warm, warm_cached = first_frame_in_fresh_process(args.trace)
        load_only = cached_load_s(args.trace)
        keys = asyncio.run(key_to_frame_ms(args.trace, args.presses))
    print(f"trace: {args.trace}  terminal {SIZE[0]}x{SIZE[1]}")
    print(f"reference: bare decompress + line loop       {reference:8.2f} s")
    print(f"first frame, cold   (goal <= 3 s)            {cold:8.2f} s  "
          f"({cold / reference:.1f}x the reference; from cache: {cold_cached})")
    print(f"first frame, cached (goal <= 1 s)            {warm:8.2f} s  (from cache: {warm_cached}; "
          f"load_recording from the cache alone: {load_only:.2f} s)")
    for name, median_ms in keys.items():
        print(f"key to frame, {name:<22} (goal <= 50 ms) {median_ms:8.1f} ms median "
              f"of {args.presses}")


if __name__ == "__main__":
    main()
