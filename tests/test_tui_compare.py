"""Pilot tests of the compare view (`faulttui replay TRACE -p POLICY` on a terminal, or `p`
in `open`): the panes, the detail pane, `/` search and every key, asserting what it shows."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from rich.text import Text

# helpers and the autouse environment fixture (temporary cache, no animations) of the main
# screen's tests; tests/ is on sys.path (see conftest.py)
from test_tui_app import (  # noqa: F401 (fixtures are used by name)
    SAMPLE,
    SIZE,
    check_zoom_keys,
    press,
    run_async,
    shared_cache_dir,
    table_text,
    tui_environment,
    wait_for_compare,
)
from textual import events
from textual.widgets import DataTable, Static

from faulttui.tui import replay_worker
from faulttui.tui.app import FaultTuiApp
from faulttui.tui.compare import CompareScreen
from faulttui.tui.help import HelpScreen
from faulttui.tui.main_screen import MainScreen
from faulttui.tui.timeline_rows import LABEL_COLUMNS
from faulttui.tui.timescale import format_duration


def compare_app(*policies: str) -> FaultTuiApp:
    return FaultTuiApp(str(SAMPLE), compare_policies=policies or ("retry-vma",),
                       replay_params={"seed": 1})


def detail(screen: CompareScreen) -> str:
    return str(screen.query_one("#compare-detail #detail-text", Static).render())


def status(screen: CompareScreen) -> str:
    return str(screen.query_one("#compare-status", Static).render())


def title(screen: CompareScreen, which: str) -> str:
    return str(screen.query_one(f"#{which}-title", Static).render())


def selected_rows(screen: CompareScreen) -> list[str]:
    """The selected lane's label as drawn in each pane (the row marked '>')."""
    rows = []
    for view in screen._views():
        lines = [view.render_line(y).text for y in range(view.size.height)]
        rows.append(next(line for line in lines if line.startswith(">")).split()[0])
    return rows


@run_async
async def test_detail_pane_shows_the_fault_recorded_and_replayed() -> None:
    app = compare_app("retry-vma", "hold-vma")
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_compare(pilot, app)
        slowest = screen.session.slowest_fault
        assert slowest is not None
        text = detail(screen)
        # the first look: the slowest fault, as recorded then as each replay ran it
        assert f"fault #{slowest.fault_id}" in text and f"{slowest.address:#x}" in text
        assert "attempts" in text and "retry under" in text and "refault" in text
        assert "replayed under retry-vma" in text and "replayed under hold-vma" in text
        assert "vs recorded" in text
        replayed = screen.indexes[1].fault_by_id[slowest.fault_id]
        assert f"latency {format_duration(replayed.latency_ns)}" in text
        # the fault is underlined in both panes: each pane's own version of it
        recording_view, replay_view = screen._views()
        assert recording_view.selected_fault == slowest
        assert replay_view.selected_fault == replayed
        await press(pilot, "n")
        following = screen.selected_fault
        assert following is not None and following.start_ns > slowest.start_ns
        assert f"{following.address:#x}" in detail(screen)
        assert f"fault {following.address:#x}" in status(screen)
        await press(pilot, "N")
        assert screen.selected_fault == slowest
        await pilot.pause(0.5)  # the raw trace lines are read in a worker
        await pilot.pause()
        assert "page_fault_user" in detail(screen)


@run_async
async def test_search_moves_the_shared_row_and_selects_the_fault() -> None:
    app = compare_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_compare(pilot, app)
        await press(pilot, "slash", *"8166", "enter")
        assert "tid 8166 faultload" in status(screen)
        assert selected_rows(screen) == [">8166", ">8166"]
        assert not screen.query_one("#compare-search").display
        fault = screen.session.faults_by_tid[8169][5]
        await press(pilot, "slash", *f"{fault.address:#x}", "enter")
        assert selected_rows(screen) == [">8169", ">8169"]
        assert screen.selected_fault == fault
        assert f"fault #{fault.fault_id}" in detail(screen)
        await press(pilot, "slash", *"vma 17", "enter")
        assert screen.selected_fault is not None and screen.selected_fault.vma_id == 17
        assert "vma 17" in detail(screen)
        await press(pilot, "slash", *"record", "enter")
        assert selected_rows(screen) == [">8142", ">8142"]
        await press(pilot, "slash", *"nosuchthing", "enter")
        assert "tid 8142" in status(screen)  # nothing found: the selection stays
        await press(pilot, "slash", "escape")
        assert not screen.query_one("#compare-search").display
        assert isinstance(app.screen, CompareScreen)  # escape closed the box, not the view


@run_async
async def test_the_replay_pane_can_be_the_active_one() -> None:
    app = compare_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_compare(pilot, app)
        assert title(screen, "recording").startswith("▶")
        await press(pilot, "tab")
        assert title(screen, "replay").startswith("▶") and not title(screen, "recording").startswith("▶")
        replay_index = screen.indexes[1]
        await press(pilot, "g", "n")  # the replay's first fault of the thread
        fault = screen.selected_fault
        assert fault is not None and fault.tid == screen.selected_tid
        assert replay_index.faults_by_tid[fault.tid][0] == fault
        recorded = screen.session.fault_by_id[fault.fault_id]
        assert f"fault #{fault.fault_id}" in detail(screen)
        assert f"start +{format_duration(recorded.start_ns - screen.timeline_view.origin_ns)}" in detail(screen)
        # a click on the recording pane makes it the active one and selects what is there
        recording_view = screen._views()[0]
        row = recording_view.header_rows + 3 - int(recording_view.scroll_y)
        await pilot.click("#recording-view", offset=(LABEL_COLUMNS + 30, row))
        await pilot.pause()
        assert title(screen, "recording").startswith("▶")
        tid = recording_view.lanes[3].tid
        assert f"tid {tid}" in status(screen)
        assert selected_rows(screen) == [f">{tid}", f">{tid}"]
        # and a click on the replay pane, on a lane, picks the replay again
        replay_view = screen._views()[1]
        row = replay_view.header_rows + 4 - int(replay_view.scroll_y)
        await pilot.click("#replay-view", offset=(LABEL_COLUMNS + 50, row))
        await pilot.pause()
        assert title(screen, "replay").startswith("▶")
        assert f"tid {replay_view.lanes[4].tid}" in status(screen)


@run_async
async def test_every_key_of_the_compare_view() -> None:
    app = compare_app("retry-vma", "hold-vma")
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_compare(pilot, app)
        lead, follower = screen._views()
        fitted = lead.fit_ns_per_column()
        await check_zoom_keys(pilot, lambda: status(screen), fitted)
        assert follower.window == lead.window  # one shared time axis
        await press(pilot, "g", "w", "w")
        assert "cursor +0 ns" in status(screen) and "view +0 ns.." in status(screen)
        await press(pilot, "d")
        assert "view +0 ns.." not in status(screen)
        assert follower.window == lead.window  # one shared time axis
        await press(pilot, "a")
        assert "view +0 ns.." in status(screen)
        await press(pilot, "right", "right")
        assert f"cursor +{format_duration(2 * lead.window.ns_per_column)}" in status(screen)
        assert follower.cursor_ns == lead.cursor_ns
        await press(pilot, "m", "right", "m")
        assert f"Δ {format_duration(lead.window.ns_per_column)}" in status(screen)
        assert follower.marker_b_ns == lead.marker_b_ns is not None
        await press(pilot, "G")
        assert lead.cursor_ns == lead.end_ns - 1
        await press(pilot, "g", *["k"] * 6, "j", "j")
        assert selected_rows(screen) == [">8164", ">8164"]
        await press(pilot, "k", "down", "up")
        assert selected_rows(screen) == [">8163", ">8163"]
        await press(pilot, "c")
        hold = screen.session.contentions[0]
        assert lead.cursor_ns == hold.request_ns and f"tid {hold.tid}" in status(screen)
        await press(pilot, "c", "C")
        assert lead.cursor_ns == hold.request_ns
        await press(pilot, "n", "f")
        fault = screen.selected_fault
        assert fault is not None
        assert lead.window.start_ns <= fault.start_ns and fault.end_ns <= lead.window.end_ns
        assert f"{format_duration(fitted)}/col" not in status(screen)
        assert "replay: retry-vma" in title(screen, "replay")
        await press(pilot, "v")
        assert "replay: hold-vma" in title(screen, "replay")
        assert "recording vs hold-vma" in status(screen)
        assert follower.selected_fault == screen.indexes[2].fault_by_id[fault.fault_id]
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("#help-text", Static).render())
        assert "switch the active pane" in help_text and "next replayed policy" in help_text
        await press(pilot, "escape")
        assert app.screen is screen
        await press(pilot, "q")
        assert isinstance(app.screen, MainScreen)


@run_async
async def test_mouse_wheel_scrolls_and_ctrl_wheel_zooms_both_panes() -> None:
    app = compare_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_compare(pilot, app)
        lead, follower = screen._views()
        before = lead.window.ns_per_column
        # (widget, x, y, delta_x, delta_y, button, shift, meta, ctrl)
        follower.post_message(events.MouseScrollUp(follower, 30, 5, 0, -1, 0, False, False, True))
        await pilot.pause()
        assert lead.window.ns_per_column == follower.window.ns_per_column == before // 2
        assert f"{format_duration(before // 2)}/col" in status(screen)
        follower.post_message(events.MouseScrollDown(follower, 30, 5, 0, 1, 0, False, False, True))
        await pilot.pause()
        assert lead.window.ns_per_column == before // 2 * 2
        await press(pilot, "w", "w")
        start = lead.window.start_ns
        lead.post_message(events.MouseScrollDown(lead, 30, 5, 0, 1, 0, True, False, False))
        await pilot.pause()
        assert lead.window.start_ns > start and follower.window == lead.window


@run_async
async def test_metrics_deltas_are_coloured_and_histograms_compare() -> None:
    app = compare_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_compare(pilot, app)
        table: DataTable[Any] = screen.query_one("#metrics-table", DataTable)
        rows = {str(table.get_row_at(index)[0]): table.get_row_at(index)
                for index in range(table.row_count)}
        retries = rows["retries under mmap_lock"]  # retry-vma retries under the VMA lock
        assert isinstance(retries[3], Text) and retries[3].plain == "-100%"
        assert retries[3].style == "green"
        assert rows["retries under VMA lock"][3].style == "red"
        assert rows["faults"][3].plain == "=" and not rows["faults"][3].style
        histograms = str(screen.query_one("#histograms", Static).render())
        assert "fault latency" in histograms and "mmap_lock wait" in histograms
        lines = histograms.splitlines()
        assert lines[1].startswith("recording") and lines[2].startswith("retry-vma")
        assert "█" in lines[1]  # the largest bucket is a full bar


@run_async
async def test_narrow_terminal_shows_metrics_or_detail() -> None:
    app = compare_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await wait_for_compare(pilot, app)
        numbers = screen.query_one("#compare-numbers")
        detail_pane = screen.query_one("#compare-detail")
        assert numbers.display and not detail_pane.display  # metrics first
        assert "t: metrics/detail" in title(screen, "replay")
        await press(pilot, "n")  # selecting a fault shows it
        assert detail_pane.display and not numbers.display
        await press(pilot, "t")
        assert numbers.display and not detail_pane.display
        await press(pilot, "t")
        assert detail_pane.display
        # the panes keep the selected thread's row in view, in the same place
        assert len(set(selected_rows(screen))) == 1
        for size in ((200, 60), (40, 12), (120, 40)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
        assert numbers.display and detail_pane.display  # wide: side by side
        assert "cursor +" in status(screen)


@run_async
async def test_the_recording_pane_works_while_the_replay_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_run_replays = replay_worker.run_replays

    def slow_run_replays(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        return real_run_replays(*args, **kwargs)

    monkeypatch.setattr(replay_worker, "run_replays", slow_run_replays)
    app = compare_app()
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(600):
            if isinstance(app.screen, CompareScreen) and app.screen.is_mounted:
                break
            await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and not screen.runs
        await pilot.pause()
        assert "replaying under retry-vma" in status(screen)
        assert "running" in title(screen, "replay")
        assert len(screen._views()[0].lanes) == 11 and not screen._views()[1].lanes
        await press(pilot, "w", "n", "j", "tab", "slash", *"8170", "enter")
        assert screen.selected_tid == 8170 and screen.active == 0  # tab waits for the replay
        release.set()
        screen = await wait_for_compare(pilot, app)
        assert selected_rows(screen) == [">8170", ">8170"]


@run_async
async def test_no_color_compare_view() -> None:
    os.environ["NO_COLOR"] = "1"  # textual reads (and removes) it when the app is created
    try:
        app = compare_app()
    finally:
        os.environ.pop("NO_COLOR", None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_compare(pilot, app)
        assert app.no_color
        table: DataTable[Any] = screen.query_one("#metrics-table", DataTable)
        deltas = [table.get_row_at(index)[3] for index in range(table.row_count)]
        assert all(isinstance(cell, Text) and not cell.style for cell in deltas)
        assert "-100%" in table_text(table)  # the sign says better or worse
        for view in screen._views():
            lines = [view.render_line(y) for y in range(view.size.height)]
            colours = {str(segment.style.bgcolor) for strip in lines for segment in strip
                       if segment.style is not None and segment.style.bgcolor is not None}
            assert len(colours) <= 1


@run_async
async def test_command_palette_runs_compare_actions() -> None:
    app = compare_app("retry-vma", "hold-vma")
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_for_compare(pilot, app)
        await press(pilot, "ctrl+p", *"Next policy")
        await pilot.pause(0.3)
        await press(pilot, "enter")
        await pilot.pause(0.2)
        assert "replay: hold-vma" in title(screen, "replay")
