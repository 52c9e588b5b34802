"""Pilot tests of the preview: a load that takes long shows what is reconstructed so far under
a banner, and the full timeline then replaces it, keeping the selection, cursor and zoom."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Static

import faulttui.tui.loading as loading
from faulttui.analysis.load import Recording
from faulttui.model.timeline import Fault
from faulttui.tui.app import FaultTuiApp
from faulttui.tui.main_screen import MainScreen
from faulttui.tui.messages import LoadPreview, LoadReconstructed
from faulttui.tui.policy_picker import PolicyPicker
from faulttui.tui.preview import PREVIEW_ENV
from faulttui.tui.session import UNKNOWN, TraceSession
from faulttui.tui.thread_list import ThreadList
from faulttui.tui.timeline_view import TimelineView

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "cold-8t-writer.txt.xz"
SIZE = (120, 40)


@pytest.fixture(autouse=True)
def cold_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty cache (a preview is only taken while importing), no animations."""
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.delenv(PREVIEW_ENV, raising=False)


@pytest.fixture
def held_full_load(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """The loading worker waits before building the full session until the event is set, so
    a test sees the preview for as long as it needs (the sample loads in a fraction of a s)."""
    release = threading.Event()
    build = loading.build_session

    def held(recording: Recording, text_source: bool) -> TraceSession:
        if not recording.partial:
            release.wait(30)
        return build(recording, text_source=text_source)

    monkeypatch.setattr(loading, "build_session", held)
    return release


async def wait_until(pilot: Pilot[None], app: FaultTuiApp, condition: Any) -> None:
    for _ in range(600):
        if app.failure is not None:
            raise app.failure
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError("the condition never held")


async def wait_for_preview(pilot: Pilot[None], app: FaultTuiApp) -> MainScreen:
    await wait_until(pilot, app,
                     lambda: isinstance(app.screen, MainScreen) and app.screen.is_mounted)
    screen = app.screen
    assert isinstance(screen, MainScreen) and screen.is_preview
    return screen


def banner(screen: MainScreen) -> Static:
    return screen.query_one("#preview-banner", Static)


def status(screen: MainScreen) -> str:
    return str(screen.query_one("#status", Static).render())


Step = Callable[[Pilot[None], MainScreen], Awaitable[None]]


def run_with_preview(release: threading.Event, during: Step, after: Step | None = None, *,
                     preview_after_s: float | None = 0) -> FaultTuiApp:
    """Open the sample with a preview; `during` runs on the preview, then the full load is
    released and `after` runs once the full timeline replaced it."""
    app = FaultTuiApp(str(SAMPLE), preview_after_s=preview_after_s)

    async def run() -> None:
        async with app.run_test(size=SIZE) as pilot:
            try:
                screen = await wait_for_preview(pilot, app)
                await during(pilot, screen)
            finally:
                release.set()
            if after is not None:
                await wait_until(pilot, app, lambda: not screen.is_preview)
                assert app.screen is screen and not banner(screen).display
                assert app.session is screen.session and not app.session.recording.partial
                await after(pilot, screen)

    asyncio.run(run())
    return app


def test_preview_banner_then_the_full_timeline_keeps_the_view(
        held_full_load: threading.Event) -> None:
    kept: list[object] = []

    def view_state(screen: MainScreen) -> tuple[object, ...]:
        view = screen.query_one(TimelineView)
        return (screen.selected_tid, view.cursor_ns, view.ns_per_column, view.first_column,
                view.marker_a_ns)

    async def during(pilot: Pilot[None], screen: MainScreen) -> None:
        text = str(banner(screen).render())
        assert banner(screen).display
        assert "PREVIEW: first" in text and "loading the rest..." in text
        screen.app.post_message(LoadReconstructed(0.5))  # as the loading worker does
        await pilot.pause()
        assert "loading the rest... 50%" in str(banner(screen).render())
        kept.append(screen.session.timeline.end_ns)
        # fully navigable: another thread, zoomed in, cursor moved, a marker
        await pilot.press("j", "w", "w", "right", "right", "m")
        await pilot.pause()
        kept.append(view_state(screen))
        assert screen.selected_tid is not None and f"tid {screen.selected_tid}" in status(screen)
        assert all(row.faults == UNKNOWN for row in screen.query_one(ThreadList).rows)
        await pilot.press("p")  # no replays of a partial trace
        await pilot.pause()
        assert not isinstance(screen.app.screen, PolicyPicker)

    async def after(pilot: Pilot[None], screen: MainScreen) -> None:
        view = screen.query_one(TimelineView)
        assert screen.session.timeline.end_ns > cast(int, kept[0])
        assert view.end_ns == screen.session.timeline.end_ns
        assert view_state(screen) == kept[1]
        assert f"tid {screen.selected_tid}" in status(screen)
        assert [lane.tid for lane in view.lanes] == list(screen.visible_tids)
        assert len(view.lanes) == len(screen.session.timeline.threads)
        rows = screen.query_one(ThreadList).rows  # numbers only for the whole trace
        assert len(rows) == len(view.lanes)
        await wait_until(pilot, cast(FaultTuiApp, screen.app),
                         lambda: screen.query_one(ThreadList).rows[0].faults >= 0)
        await pilot.press("p")  # compare works once the whole trace is there
        await pilot.pause()
        assert isinstance(screen.app.screen, PolicyPicker)

    run_with_preview(held_full_load, during, after)


def test_an_unzoomed_preview_view_fits_the_whole_trace_after_the_swap(
        held_full_load: threading.Event) -> None:
    selected: list[tuple[int | None, Fault | None]] = []

    async def during(pilot: Pilot[None], screen: MainScreen) -> None:
        selected.append((screen.selected_tid, screen.selected_fault))

    async def after(pilot: Pilot[None], screen: MainScreen) -> None:
        view = screen.query_one(TimelineView)
        assert view.ns_per_column == view.fit_ns_per_column() and view.first_column == 0
        tid, fault = selected[0]
        assert screen.selected_tid == tid
        if fault is not None:  # the same fault, now the full timeline's object
            assert screen.selected_fault is not None
            assert screen.selected_fault.fault_id == fault.fault_id
            assert screen.selected_fault in screen.session.timeline.faults

    run_with_preview(held_full_load, during, after)


def test_quit_during_the_preview(held_full_load: threading.Event) -> None:
    async def during(pilot: Pilot[None], screen: MainScreen) -> None:
        await pilot.press("q")
        await pilot.pause()

    assert run_with_preview(held_full_load, during).return_code == 0


def test_the_environment_variable_forces_a_preview(monkeypatch: pytest.MonkeyPatch,
                                                   held_full_load: threading.Event) -> None:
    async def nothing(pilot: Pilot[None], screen: MainScreen) -> None:
        pass

    monkeypatch.setenv(PREVIEW_ENV, "0")
    run_with_preview(held_full_load, nothing, nothing, preview_after_s=None)


def test_a_quick_load_shows_no_preview() -> None:
    app = FaultTuiApp(str(SAMPLE), preview_after_s=60)  # loads well within that
    previews: list[Message] = []

    def hook(message: Message) -> None:
        if isinstance(message, LoadPreview):
            previews.append(message)

    async def run() -> None:
        async with app.run_test(size=SIZE, message_hook=hook) as pilot:
            await wait_until(pilot, app,
                     lambda: isinstance(app.screen, MainScreen) and app.screen.is_mounted)
            screen = app.screen
            assert isinstance(screen, MainScreen)
            assert not screen.is_preview and not banner(screen).display

    asyncio.run(run())
    assert previews == []
