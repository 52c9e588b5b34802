"""TUI benchmark: time to first frame (cold and cached), to the full timeline, key-to-frame.

    python benchmarks/tui_bench.py [TRACE] [--presses N]

Drives the real app headless with Textual's Pilot. A "frame" is the app handing a rendered
screen update to the driver (App._display), timed by wrapping that method. Goals (DESIGN.md):
first frame <= 3 s cold, <= 1 s cached; key to frame <= 50 ms. A cold load of a big trace shows
a preview first (what is reconstructed after ~1.5 s, see faulttui.tui.preview): its first
frame is the cold first frame, and the frame showing the full timeline is timed separately. Next to the cold figure it prints
a reference run in the same process (a bare decompress-and-split-lines loop over the same file),
so the ratio survives a noisy machine. Each first frame is measured in a fresh interpreter and
split into its phases: imports (faulttui and textual), app start, load_recording (import or
cache), build_session, and the TUI's own part (from the full session to the frame showing it:
composing the screen or swapping the full timeline into the preview, and rendering).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    """Records when the app hands frames to the driver (and, for each, what `mark()` said
    then, e.g. "preview": the main screen shows a preview)."""

    def __init__(self, app: FaultTuiApp, mark: Callable[[], str | None] = lambda: None) -> None:
        self.frames: list[float] = []
        self.marked: list[str | None] = []
        original: Callable[..., Any] = app._display

        def display(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            self.frames.append(time.perf_counter())
            self.marked.append(mark())
            return result

        app._display = display  # type: ignore[method-assign]

    def first_after(self, start: float) -> float | None:
        return next((frame for frame in self.frames if frame >= start), None)

    def first_marked(self, *marks: str) -> float | None:
        return next((frame for frame, marked in zip(self.frames, self.marked, strict=True)
                     if marked in marks), None)


def showing_lanes(app: FaultTuiApp) -> str | None:
    """"preview" or "full": the main screen shows the timeline's lanes of a preview or of the
    whole trace (it can be drawn once before they are set); None: it does not."""
    from faulttui.tui.main_screen import MainScreen
    from faulttui.tui.timeline_view import TimelineView

    screen = app.screen
    if not isinstance(screen, MainScreen) or not screen.query_one(TimelineView).lanes:
        return None
    return "preview" if screen.is_preview else "full"


async def wait_for_frame(pilot: Any, clock: FrameClock, *marks: str) -> float:
    frame = clock.first_marked(*marks)
    while frame is None:  # a screen is switched in (or swapped) before its frame is drawn
        await pilot.pause(0.005)
        frame = clock.first_marked(*marks)
    return frame


async def first_frame_s(trace: str, start: float) -> dict[str, Any]:
    """Time to the main screen's first frame, split into its phases (seconds from `start`)."""
    import faulttui.tui.loading as loading
    from faulttui.tui.app import FaultTuiApp
    from faulttui.tui.main_screen import MainScreen

    marks: dict[str, float] = {"imported": time.perf_counter()}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            # build_session runs for the preview too: those marks are kept apart
            part = f"{name}_preview" if getattr(args[0], "partial", False) else name
            marks[f"{part}_start"] = time.perf_counter()
            result = function(*args, **kwargs)
            marks[f"{part}_end"] = time.perf_counter()
            return result
        return run

    # the loading worker calls these through the module's names
    loading.load_recording = timed("load", loading.load_recording)
    loading.build_session = timed("session", loading.build_session)
    app = FaultTuiApp(trace)
    clock = FrameClock(app, lambda: showing_lanes(app))
    async with app.run_test(size=SIZE) as pilot:
        while not isinstance(app.screen, MainScreen):
            if app.failure is not None:
                raise app.failure
            await pilot.pause(0.01)
        first = await wait_for_frame(pilot, clock, "preview", "full")
        preview_fraction = app.session.recording.loaded_fraction if app.session else 1.0
        full = await wait_for_frame(pilot, clock, "full")
        assert app.session is not None
        return {
            "first_frame": first - start,
            "full_frame": full - start,
            "preview": "session_preview_end" in marks,
            "preview_fraction": preview_fraction,
            "from_cache": app.session.recording.from_cache,
            "imports": marks["imported"] - start,
            "app_start": marks["load_start"] - marks["imported"],
            "load": marks["load_end"] - marks["load_start"],
            "session": marks["session_end"] - marks["session_start"],
            "tui": full - marks["session_end"],
        }


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


def cached_load_s(trace: str) -> tuple[float, bool]:
    """load_recording alone, from the cache if it is still valid (the part of a cached first
    frame outside the TUI), and whether the cache was used."""
    from faulttui.analysis.load import load_recording

    start = time.perf_counter()
    recording = load_recording(trace)
    return time.perf_counter() - start, recording.from_cache


def reference_line_loop_s(trace: str) -> float:
    start = time.perf_counter()
    opener = lzma.open if trace.endswith(".xz") else open
    with opener(trace, "rb") as stream:
        for _line in stream:
            pass
    return time.perf_counter() - start


def first_frame_in_fresh_process(trace: str) -> dict[str, Any]:
    """Time to first frame in a new interpreter, as a user's `faulttui open` would see it
    (a second run in this process would pay for the first run's garbage)."""
    output = subprocess.run(
        [sys.executable, __file__, trace, "--first-frame-only"], check=True,
        capture_output=True, text=True, env=os.environ.copy(),
    ).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def phases(run: dict[str, Any]) -> str:
    return (f"imports {run['imports']:.2f} + app start {run['app_start']:.2f} + "
            f"load_recording {run['load']:.2f} + build_session {run['session']:.2f} + "
            f"TUI to first frame {run['tui']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", default=DEFAULT_TRACE)
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--first-frame-only", action="store_true",
                        help="(internal) print one first-frame time and whether it was cached")
    args = parser.parse_args()
    if args.first_frame_only:
        print(json.dumps(asyncio.run(first_frame_s(args.trace, MODULE_START))))
        return
    with tempfile.TemporaryDirectory(prefix="faulttui-bench-cache-") as cache:
        os.environ["FAULTTUI_CACHE_DIR"] = cache
        reference = reference_line_loop_s(args.trace)
        cold = first_frame_in_fresh_process(args.trace)
        warm = first_frame_in_fresh_process(args.trace)
        load_only, load_cached = cached_load_s(args.trace)
        keys = asyncio.run(key_to_frame_ms(args.trace, args.presses))
    print(f"trace: {args.trace}  terminal {SIZE[0]}x{SIZE[1]}")
    print(f"reference: bare decompress + line loop       {reference:8.2f} s")
    shown = (f"a preview of {100 * cold['preview_fraction']:.0f}% of the trace"
             if cold["preview"] else "no preview: the full timeline")
    print(f"first frame, cold   (goal <= 3 s)            {cold['first_frame']:8.2f} s  "
          f"({shown}; from cache: {cold['from_cache']})")
    print(f"full timeline shown, cold                    {cold['full_frame']:8.2f} s  "
          f"({cold['full_frame'] / reference:.1f}x the reference)")
    print(f"    = {phases(cold)}")
    print(f"first frame, cached (goal <= 1 s)            {warm['first_frame']:8.2f} s  "
          f"(from cache: {warm['from_cache']}; load_recording alone in this process: "
          f"{load_only:.2f} s, from cache: {load_cached})")
    print(f"    = {phases(warm)}")
    for name, median_ms in keys.items():
        print(f"key to frame, {name:<22} (goal <= 50 ms) {median_ms:8.1f} ms median "
              f"of {args.presses}")


if __name__ == "__main__":
    main()
