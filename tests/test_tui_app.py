"""Pilot tests of the TUI: each key and pane, asserting what the screen shows."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
from array import array
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.app import App
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from faulttui.analysis.load import FaultSummary, Recording
from faulttui.analysis.reconstruct import LockCounts
from faulttui.analysis.recording_cache import cache_key, read_cache
from faulttui.importers import ImportStats
from faulttui.model.timeline import (
    Attempt,
    AttemptLock,
    AttemptOutcome,
    Fault,
    SpanState,
    ThreadLane,
    Timeline,
)
from faulttui.tui.app import FaultTuiApp
from faulttui.tui.compare import CompareScreen
from faulttui.tui.help import HelpScreen
from faulttui.tui.main_screen import MainScreen
from faulttui.tui.messages import LoadProgress
from faulttui.tui.policy_picker import PolicyPicker
from faulttui.tui.preview import PREVIEW_ENV
from faulttui.tui.session import build_session
from faulttui.tui.timeline_view import TimelineView
from faulttui.tui.timescale import format_duration

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "cold-8t-writer.txt.xz"
SIZE = (120, 40)

AsyncTest = Callable[..., Coroutine[Any, Any, None]]


def run_async(test: AsyncTest) -> Callable[..., None]:
    """Run an async test with asyncio.run (no async pytest plugin is a dependency)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


@pytest.fixture(scope="module")
def shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tui-cache")


@pytest.fixture(autouse=True)
def tui_environment(shared_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One cache for this module's tests (a temporary directory, never the user's), so only
    the first test imports the sample; no animations; no preview however slow a cold load
    (test_tui_preview.py tests it)."""
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(shared_cache_dir))
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv(PREVIEW_ENV, "off")


async def wait_for_main(pilot: Pilot[None], app: FaultTuiApp) -> MainScreen:
    for _ in range(600):
        if app.failure is not None:
            raise app.failure
        if isinstance(app.screen, MainScreen) and app.screen.is_mounted:  # on_mount ran
            await pilot.pause()
            return app.screen
        await pilot.pause(0.05)
    raise AssertionError("the main screen never appeared")


def status(screen: MainScreen) -> str:
    return str(screen.query_one("#status", Static).render())


def detail(screen: MainScreen) -> str:
    return str(screen.query_one("#detail-text", Static).render())


async def press(pilot: Pilot[None], *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()


@run_async
async def test_zoom_keys_change_the_zoom_in_the_status_line() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        fitted = screen.query_one(TimelineView).fit_ns_per_column()
        await check_zoom_keys(pilot, lambda: status(screen), fitted)


async def check_zoom_keys(pilot: Pilot[None], read_status: Callable[[], str],
                          fitted_ns_per_column: int) -> None:
    """w and + halve the time per column, s and - double it, never past the whole trace."""
    def shown(ns_per_column: int) -> bool:
        return f"{format_duration(ns_per_column)}/col" in read_status()

    assert shown(fitted_ns_per_column)
    await press(pilot, "w")
    assert shown(fitted_ns_per_column // 2)
    await press(pilot, "plus")
    assert shown(fitted_ns_per_column // 4)
    await press(pilot, "s", "minus")
    assert shown(fitted_ns_per_column)
    await press(pilot, "s")
    assert shown(fitted_ns_per_column)


@run_async
async def test_pan_and_cursor_keys_move_the_view() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "g", "w", "w")
        assert "view +0 ns.." in status(screen)
        await press(pilot, "d")
        assert "view +0 ns.." not in status(screen)
        await press(pilot, "a")
        assert "view +0 ns.." in status(screen)
        column_ns = screen.query_one(TimelineView).window.ns_per_column
        await press(pilot, "right", "right")
        assert f"cursor +{format_duration(2 * column_ns)}" in status(screen)
        await press(pilot, "left")
        assert f"cursor +{format_duration(column_ns)}" in status(screen)
        await press(pilot, "G")
        assert "cursor +116 ms" in status(screen)
        await press(pilot, "g")
        assert "cursor +0 ns" in status(screen)


@run_async
async def test_thread_keys_change_the_selected_thread() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        slowest = max(screen.session.timeline.faults, key=lambda fault: fault.latency_ns)
        assert f"tid {slowest.tid} faultload" in status(screen)  # first look: the slowest fault
        assert f"{slowest.address:#x}" in detail(screen)
        await press(pilot, "g", "k", "k", "k", "k", "k")
        assert "tid 8142 record.sh" in status(screen)
        await press(pilot, "j")
        assert "tid 8163 faultload" in status(screen)
        await press(pilot, "down", "j")
        assert "tid 8165 faultload" in status(screen)
        await press(pilot, "k", "up")
        assert "tid 8163" in status(screen)
        table = screen.query_one(DataTable)
        assert table.cursor_row == 1  # the thread list follows the timeline


@run_async
async def test_next_fault_shows_its_address_in_the_detail_pane() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "g", "slash", *"8163", "enter")
        assert "No fault selected" in detail(screen)
        await press(pilot, "n")
        first = screen.selected_fault
        assert first is not None and first.tid == 8163
        assert f"{first.address:#x}" in detail(screen)
        assert "attempts" in detail(screen)
        await press(pilot, "n")
        second = screen.selected_fault
        assert second is not None and second.start_ns > first.start_ns
        assert f"{second.address:#x}" in status(screen)
        await press(pilot, "N")
        assert screen.selected_fault is first
        await pilot.pause(0.5)  # the raw trace lines are read in a worker
        await pilot.pause()
        assert "page_fault_user" in detail(screen)


@run_async
async def test_zoom_to_fault() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "g", "f")  # nothing selected: a warning, no crash
        await press(pilot, "j", "n", "n", "f")
        fitted = screen.query_one(TimelineView).fit_ns_per_column()
        assert f"{format_duration(fitted)}/col" not in status(screen)
        fault = screen.selected_fault
        assert fault is not None
        window = screen.query_one(TimelineView).window
        assert window.start_ns <= fault.start_ns and fault.end_ns <= window.end_ns


@run_async
async def test_contention_keys_jump_to_a_waiting_acquisition() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "g", "c", "c", "c")
        third_cursor = screen.query_one(TimelineView).cursor_ns
        assert third_cursor > screen.origin_ns
        await press(pilot, "C")
        assert screen.query_one(TimelineView).cursor_ns < third_cursor
        hold = next(h for h in screen.session.contentions
                    if h.request_ns == screen.query_one(TimelineView).cursor_ns)
        assert f"tid {hold.tid}" in status(screen)


@run_async
async def test_search_by_tid_comm_and_address() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "slash", *"8166", "enter")
        assert "tid 8166 faultload" in status(screen)
        fault = screen.session.faults_by_tid[8169][5]
        await press(pilot, "slash", *f"{fault.address:#x}", "enter")
        assert "tid 8169" in status(screen)
        assert screen.selected_fault is not None
        assert screen.selected_fault.address == fault.address
        await press(pilot, "slash", *"record", "enter")
        assert "tid 8142 record.sh" in status(screen)
        await press(pilot, "slash", *"nosuchthing", "enter")
        assert "tid 8142" in status(screen)  # nothing found: the selection stays
        await press(pilot, "slash", "escape")
        assert not screen.query_one("#search").display


@run_async
async def test_markers_show_the_time_between_them() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "g", "m")
        assert "A +0 ns" in status(screen)
        await press(pilot, "right", "right", "m")
        column_ns = screen.query_one(TimelineView).window.ns_per_column
        assert f"Δ {format_duration(2 * column_ns)}" in status(screen)
        await press(pilot, "m")
        assert "Δ" not in status(screen)


@run_async
async def test_filter_sort_and_click() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        table = screen.query_one(DataTable)
        assert table.row_count == 11
        await pilot.click("#thread-filter")
        await press(pilot, *"8167")
        assert table.row_count == 1
        assert len(screen.query_one(TimelineView).lanes) == 1
        assert "tid 8167" in status(screen)
        await press(pilot, *["backspace"] * 4)
        assert table.row_count == 11
        await press(pilot, "escape")  # back to the timeline: letters are keys again
        assert screen.query_one(TimelineView).has_focus
        await press(pilot, "o", "o", "o")  # tid -> comm -> faults -> p99 (descending)
        assert "p99 lat ▼" in str(table.columns[table.ordered_columns[3].key].label)
        # clicking the third lane (row 3 under the ruler and the two lock rows) selects it
        view = screen.query_one(TimelineView)
        order = screen.visible_tids
        await pilot.click(TimelineView, offset=(40, view.header_rows + 2))
        await pilot.pause()
        assert f"tid {order[2]}" in status(screen)


@run_async
async def test_help_and_quit() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for_main(pilot, app)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "next / previous fault" in str(app.screen.query_one("#help-text", Static).render())
        await press(pilot, "escape")
        assert isinstance(app.screen, MainScreen)
        await press(pilot, "q")
    assert app.return_code == 0


@run_async
async def test_resize_small_and_large() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "w", "j", "n")
        for size in ((200, 60), (40, 12), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert "cursor +" in status(screen)


@run_async
async def test_cache_used_on_second_open_and_invalidated_on_change(tmp_path: Path) -> None:
    trace = tmp_path / "copy.txt.xz"
    shutil.copy(SAMPLE, trace)
    opened = []
    for step in range(3):
        if step == 2:
            os.utime(trace, ns=(1_000_000_000, 1_000_000_000))  # the file "changed"
        app = FaultTuiApp(str(trace))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_main(pilot, app)
            assert app.session is not None
            opened.append(app.session.recording.from_cache)
            # a new entry is written after the trace is on screen, by the loading worker
            for _ in range(200):
                if read_cache(cache_key(str(trace)) or "") is not None:
                    break
                await pilot.pause(0.05)
            else:
                raise AssertionError("the cache entry was never written")
    assert opened == [False, True, False]


def test_escape_cancels_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(tmp_path / "empty-cache"))  # a cold load
    app = FaultTuiApp(str(SAMPLE))

    async def cancel_while_loading() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("escape")
            await pilot.pause()

    asyncio.run(cancel_while_loading())
    assert app.return_code == 130
    assert app.session is None


@run_async
async def test_a_bad_trace_fails_with_its_error(tmp_path: Path) -> None:
    trace = tmp_path / "notatrace.txt"
    trace.write_text("hello\n")
    app = FaultTuiApp(str(trace))
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(100):
            if app.failure is not None:
                break
            await pilot.pause(0.05)
    assert app.failure is not None and app.return_code == 2


def one_thread_session(with_fault: bool = True) -> MainScreen:
    lane = ThreadLane(1, 1, "solo", 120, array("q", [0, 100, 400]), array("q", [100, 400, 1000]),
                      array("B", [SpanState.USER, SpanState.FAULT_VMA, SpanState.USER]))
    faults = (Fault(0, 1, "mm", 100, 400, 0x1000, attempts=(
        Attempt(AttemptLock.VMA, 100, 400, AttemptOutcome.DONE),)),) if with_fault else ()
    timeline = Timeline("recording", 0, 1000, (lane,), faults, ())
    recording = Recording("synthetic", "synthetic", ImportStats(path="synthetic"), timeline,
                          LockCounts(), FaultSummary(len(faults), 1, 0, 0, 0, len(faults)))
    return MainScreen(build_session(recording, text_source=False))


class ScreenApp(App[None]):
    CSS_PATH = str(Path(__file__).resolve().parent.parent / "faulttui" / "tui" / "styles.tcss")

    def __init__(self, screen: MainScreen) -> None:
        super().__init__()
        self.main_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.main_screen)


@pytest.mark.parametrize("with_fault", [True, False])
@run_async
async def test_one_thread_trace_and_every_key(with_fault: bool) -> None:
    screen = one_thread_session(with_fault)
    app = ScreenApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        keys = ["w", "s", "a", "d", "j", "k", "g", "G", "n", "N", "f", "c", "C", "m", "m",
                "o", "l", "l", "left", "right", "up", "down", "plus", "minus"]
        await press(pilot, *keys)
        assert "tid 1 solo" in status(screen)
        await press(pilot, "g", "n")
        if with_fault:
            assert "0x1000" in detail(screen)
        await pilot.resize_terminal(30, 10)
        await pilot.pause()


async def wait_for_compare(pilot: Pilot[None], app: FaultTuiApp) -> CompareScreen:
    for _ in range(1200):
        if app.failure is not None:
            raise app.failure
        screen = app.screen
        if isinstance(screen, CompareScreen) and screen.is_mounted and screen.runs:
            await pilot.pause()
            return screen
        await pilot.pause(0.05)
    raise AssertionError("the compare view never showed its replays")


def table_text(table: DataTable[str]) -> str:
    header = " ".join(str(column.label) for column in table.ordered_columns)
    rows = [" ".join(str(cell) for cell in table.get_row_at(index))
            for index in range(table.row_count)]
    return "\n".join([header, *rows])


@run_async
async def test_compare_view_from_the_policy_picker() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_for_main(pilot, app)
        main_tid = main.selected_tid
        await press(pilot, "p")
        assert isinstance(app.screen, PolicyPicker)
        await pilot.click("#compare-button")  # retry-vma is preselected
        screen = await wait_for_compare(pilot, app)
        text = table_text(screen.query_one("#metrics-table", DataTable))
        assert "recording" in text and "retry-vma" in text
        assert "retries under mmap_lock" in text
        status_line = str(screen.query_one("#compare-status", Static).render())
        assert "recording vs retry-vma" in status_line
        await press(pilot, "w")
        recording_view, replay_view = screen._views()
        # one shared time axis
        assert recording_view.window.start_ns == replay_view.window.start_ns
        assert recording_view.window.ns_per_column == replay_view.window.ns_per_column
        assert screen.selected_tid == main_tid  # the thread the user was looking at
        before = recording_view.selected_index
        await press(pilot, "j", "right", "d")
        assert recording_view.cursor_ns == replay_view.cursor_ns
        assert recording_view.selected_index == replay_view.selected_index == before + 1
        await press(pilot, "escape")
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_compare_view_opened_directly_like_faulttui_replay() -> None:
    app = FaultTuiApp(str(SAMPLE), compare_policies=["stock", "hold-vma"],
                      replay_params={"seed": 1})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_for_compare(pilot, app)
        assert [run.name for run in screen.runs] == ["recording", "stock", "hold-vma"]
        assert "replay: stock" in str(screen.query_one("#replay-title", Static).render())
        await press(pilot, "v")
        assert "replay: hold-vma" in str(screen.query_one("#replay-title", Static).render())
        await press(pilot, "s", "a", "g", "G", "k")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()


def many_threads_session(threads: int, spans_per_thread: int) -> MainScreen:
    lanes = []
    faults = []
    states = [SpanState.USER, SpanState.FAULT_VMA, SpanState.IO_WAIT, SpanState.WAIT_MMAP_READ]
    for tid in range(1, threads + 1):
        starts = array("q", range(0, spans_per_thread * 10, 10))
        ends = array("q", range(10, spans_per_thread * 10 + 10, 10))
        codes = array("B", [states[(tid + index) % 4] for index in range(spans_per_thread)])
        lanes.append(ThreadLane(tid, 1, f"worker{tid}", 120, starts, ends, codes))
        faults.append(Fault(tid, tid, "mm", tid * 10, tid * 10 + 10, 0x1000 * tid))
    timeline = Timeline("recording", 0, spans_per_thread * 10, tuple(lanes), tuple(faults), ())
    recording = Recording("synthetic", "synthetic", ImportStats(path="synthetic"), timeline,
                          LockCounts(), FaultSummary(len(faults), threads, 0, 0, 0, len(faults)))
    return MainScreen(build_session(recording, text_source=False))


@run_async
async def test_many_threads_scroll_to_the_selected_lane() -> None:
    screen = many_threads_session(threads=300, spans_per_thread=2000)
    app = ScreenApp(screen)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        view = screen.query_one(TimelineView)
        await press(pilot, "slash", *"worker299", "enter")
        assert "tid 299 worker299" in status(screen)
        assert view.scroll_y > 0
        rendered = [line.text for line in (view.render_line(y) for y in range(view.size.height))]
        assert any(line.startswith(">299 worker299") for line in rendered)
        await press(pilot, "w", "w", "d", "j", "k", "n")
        assert "tid 299" in status(screen)
        # the wheel scrolls the lanes; shift+wheel pans the time axis
        top = view.scroll_y
        view.post_message(events.MouseScrollUp(view, 30, 5, 0, -1, 0, False, False, False))
        await pilot.pause()
        assert view.scroll_y < top
        start = view.window.start_ns
        view.post_message(events.MouseScrollUp(view, 30, 5, 0, -1, 0, True, False, False))
        await pilot.pause()
        assert view.window.start_ns < start


@run_async
async def test_no_color_renders_glyphs_without_colour() -> None:
    os.environ["NO_COLOR"] = "1"  # textual reads (and removes) it when the app is created
    try:
        app = FaultTuiApp(str(SAMPLE))
    finally:
        os.environ.pop("NO_COLOR", None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_for_main(pilot, app)
        assert app.no_color
        await press(pilot, "w", "j", "n", "c", "question_mark", "escape")
        view = screen.query_one(TimelineView)
        lines = [view.render_line(y) for y in range(view.size.height)]
        lane_text = "".join(strip.text for strip in lines[view.header_rows:])
        assert {"w", "m", "i"} & set(lane_text)  # states read from glyphs alone
        own_colours = {str(segment.style.bgcolor) for strip in lines for segment in strip
                       if segment.style is not None and segment.style.bgcolor is not None}
        assert len(own_colours) <= 1  # only the theme background, no state colours


@run_async
async def test_command_palette_and_thread_list_click() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "g")
        assert screen.selected_fault is None
        await press(pilot, "ctrl+p", *"Next fault")
        await pilot.pause(0.3)
        await press(pilot, "enter")
        await pilot.pause(0.2)
        assert screen.selected_fault is not None  # the palette ran "next fault"
        table = screen.query_one(DataTable)
        await pilot.click(DataTable, offset=(3, 4))  # header row, then rows 0, 1, 2, 3
        await pilot.pause()
        assert f"tid {screen.visible_tids[3]}" in status(screen)
        assert table.cursor_row == 3


class TimelineApp(App[None]):
    def compose(self) -> Any:
        yield TimelineView(0, 1000, id="timeline")


@run_async
async def test_timeline_redraws_when_lanes_with_the_same_tid_are_swapped() -> None:
    """The compare view swaps one replay's lanes for another's: same tids, other spans."""
    def lane(state: SpanState) -> ThreadLane:
        return ThreadLane(7, 7, "t", 120, array("q", [0]), array("q", [1000]),
                          array("B", [state]))

    app = TimelineApp()
    async with app.run_test(size=(60, 8)) as pilot:
        view = app.query_one(TimelineView)
        view.set_lanes([lane(SpanState.IO_WAIT)], 0)
        await pilot.pause()
        first = view.render_line(view.header_rows).text
        view.set_lanes([lane(SpanState.FAULT_VMA)], 0)
        await pilot.pause()
        second = view.render_line(view.header_rows).text
        assert "iii" in first and "vvv" in second


def test_cold_load_reports_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(tmp_path / "cold"))
    app = FaultTuiApp(str(SAMPLE))
    seen: list[LoadProgress] = []

    def hook(message: Message) -> None:
        if isinstance(message, LoadProgress):
            seen.append(message)

    async def load() -> None:
        async with app.run_test(size=SIZE, message_hook=hook) as pilot:
            await wait_for_main(pilot, app)

    asyncio.run(load())
    assert len(seen) >= 2  # the importer's byte counts, then "done"
    assert all(0 <= report.done_bytes <= report.total_bytes for report in seen)
    assert seen[-1].done_bytes == seen[-1].total_bytes


@run_async
async def test_lock_lane_follows_the_thread_or_the_chosen_mm() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        view = screen.query_one(TimelineView)
        own_mm = screen.session.mm_by_tid[screen.selected_tid or 0]
        assert view.lock_occupancy is not None and view.lock_occupancy.mm == own_mm
        assert f"mmap_lock {own_mm[-6:]}" in view.render_line(1).text
        busiest = screen.session.mms_by_activity
        for mm in busiest:
            await press(pilot, "l")
            assert view.lock_occupancy is not None and view.lock_occupancy.mm == mm
        await press(pilot, "l")  # back to following the selected thread
        assert view.lock_occupancy is not None and view.lock_occupancy.mm == own_mm


@run_async
async def test_ctrl_wheel_zooms_and_shift_wheel_pans_the_main_timeline() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        view = screen.query_one(TimelineView)
        fitted = view.window.ns_per_column
        # (widget, x, y, delta_x, delta_y, button, shift, meta, ctrl)
        view.post_message(events.MouseScrollUp(view, 40, 5, 0, -1, 0, False, False, True))
        await pilot.pause()
        assert f"{format_duration(fitted // 2)}/col" in status(screen)
        view.post_message(events.MouseScrollDown(view, 40, 5, 0, 1, 0, False, False, True))
        await pilot.pause()
        assert f"{format_duration(fitted // 2 * 2)}/col" in status(screen)
        await press(pilot, "g", "w", "w")
        view.post_message(events.MouseScrollDown(view, 40, 5, 0, 1, 0, True, False, False))
        await pilot.pause()
        assert "view +0 ns.." not in status(screen)


@run_async
async def test_detail_pane_shows_the_span_under_the_cursor_without_a_fault() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        fault = screen.selected_fault
        assert fault is not None
        await press(pilot, "g")  # the start: the thread has no event yet, no fault selected
        assert "no event here" in detail(screen) and "No fault selected" in detail(screen)
        await press(pilot, "slash", *"8142", "enter")  # a thread, no fault: its span is shown
        assert screen.selected_fault is None
        lane = screen.session.lane_by_tid[8142]
        cursor = screen.query_one(TimelineView).cursor_ns
        index = max(i for i, start in enumerate(lane.span_starts) if start <= cursor)
        assert lane.span_ends[index] > cursor
        state = SpanState(lane.span_states[index]).label
        assert f"tid 8142 record.sh at +{format_duration(cursor - screen.origin_ns)}: {state}" \
            in detail(screen)


@run_async
async def test_search_by_vma() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "slash", *"vma 17", "enter")
        fault = screen.selected_fault
        assert fault is not None and fault.vma_id == 17
        first = min((f for f in screen.session.timeline.faults if f.vma_id == 17),
                    key=lambda f: f.start_ns)
        assert fault == first
        assert f"tid {fault.tid}" in status(screen) and "vma 17" in detail(screen)
        await press(pilot, "slash", *"vma 999", "enter")
        assert screen.selected_fault == fault  # no such VMA: the selection stays


@run_async
async def test_thread_list_numbers_arrive_after_the_first_frame() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        table = screen.query_one(DataTable)
        for _ in range(100):
            if "…" not in table_text(table):
                break
            await pilot.pause(0.05)
        row = table.get_row("8165")
        faults = len(screen.session.faults_by_tid[8165])
        assert row[:3] == ["8165", "faultload", f"{faults:,}"]
        assert row[3].endswith("µs") and row[4].endswith("µs")


@run_async
async def test_an_empty_selection_keeps_every_key_working() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_for_main(pilot, app)
        await pilot.click("#thread-filter")
        await press(pilot, *"nosuchthread", "escape")
        view = screen.query_one(TimelineView)
        assert screen.query_one(DataTable).row_count == 0 and not view.lanes
        assert "no thread" in status(screen)
        await press(pilot, "w", "s", "a", "d", "j", "k", "g", "G", "n", "N", "f", "m", "m",
                    "o", "l", "l", "left", "right", "up", "down", "plus", "minus")
        assert "no thread" in status(screen)
        await press(pilot, "c")  # a contention of a filtered-out thread: said, not selected
        await press(pilot, "slash", *"8165", "enter")
        assert not view.lanes
        await pilot.resize_terminal(30, 10)
        await pilot.pause()


@run_async
async def test_80x24_keeps_every_pane_readable() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_for_main(pilot, app)
        view = screen.query_one(TimelineView)
        threads = screen.query_one("#threads")
        detail_pane = screen.query_one("#detail")
        assert view.size.height >= 5 and view.data_columns >= 40
        assert threads.outer_size.width >= 49 and detail_pane.outer_size.width >= 30
        rendered = [view.render_line(y).text for y in range(view.size.height)]
        assert rendered[0].startswith(" time") and "mmap_lock" in rendered[1]
        assert any(line.startswith(">8165") for line in rendered)
        assert "cursor +" in status(screen) and "tid 8165" in status(screen)
        assert "fault #" in detail(screen)


@run_async
async def test_p_opens_the_picker_and_escape_cancels_it() -> None:
    app = FaultTuiApp(str(SAMPLE))
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_main(pilot, app)
        await press(pilot, "p")
        assert isinstance(app.screen, PolicyPicker)
        assert app.screen.query_one("#policy-list").selected == ["retry-vma"]
        await press(pilot, "escape")
        assert app.screen is screen
