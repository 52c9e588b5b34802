"""SVG snapshots of the TUI (pytest-textual-snapshot): main screen, detail pane, help, and the
compare view with its metrics, histograms and detail pane.

Regenerate after an intended visual change with `pytest tests/test_tui_snapshots.py
--snapshot-update` and review the SVGs in tests/__snapshots__/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerState

from faulttui.tui.app import FaultTuiApp
from faulttui.tui.compare import CompareScreen
from faulttui.tui.main_screen import MainScreen
from faulttui.tui.preview import PREVIEW_ENV
from faulttui.tui.thread_list import ThreadList

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "cold-8t-writer.txt.xz"


@pytest.fixture(scope="module")
def shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshot-cache")


@pytest.fixture(autouse=True)
def snapshot_environment(shared_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(shared_cache_dir))
    monkeypatch.setenv(PREVIEW_ENV, "off")  # however slow the first, cold load


def after_loading(*keys: str, settle_s: float = 0.5) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        for _ in range(600):  # the main screen, with the thread list's numbers
            screen = pilot.app.screen
            if (isinstance(screen, MainScreen) and screen.is_mounted  # composed, on_mount ran
                    and screen.query_one(ThreadList).rows[0].faults >= 0):
                break
            await pilot.pause(0.05)
        await pilot.pause()
        await pilot.press(*keys)
        if settle_s:
            await pilot.pause(settle_s)
        await pilot.pause()

    return run_before


def test_main_screen(snap_compare: Any) -> None:
    assert snap_compare(FaultTuiApp(str(SAMPLE)), terminal_size=(120, 40),
                        run_before=after_loading())


def test_main_screen_80x24(snap_compare: Any) -> None:
    assert snap_compare(FaultTuiApp(str(SAMPLE)), terminal_size=(80, 24),
                        run_before=after_loading())


def test_detail_pane(snap_compare: Any) -> None:
    assert snap_compare(FaultTuiApp(str(SAMPLE)), terminal_size=(120, 40),
                        run_before=after_loading("j", "j", "n", "n", "f"))


def test_help_screen(snap_compare: Any) -> None:
    assert snap_compare(FaultTuiApp(str(SAMPLE)), terminal_size=(120, 40),
                        run_before=after_loading("question_mark"))


def after_replaying(*keys: str) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        for _ in range(1200):
            screen = pilot.app.screen
            if isinstance(screen, CompareScreen) and screen.is_mounted and screen.runs:
                break
            await pilot.pause(0.05)
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)  # the detail pane reads the raw trace lines in a worker

    return run_before


async def settle(pilot: Pilot[None]) -> None:
    """Until no worker is left running (replays, thread numbers, lock lanes, raw lines)
    and the messages they posted are handled: the frame no longer depends on timing."""
    for _ in range(600):
        await pilot.pause(0.05)
        if not any(worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
                   for worker in pilot.app.workers):
            break
    await pilot.pause()
    await pilot.pause(0.1)


def compare_app() -> FaultTuiApp:
    return FaultTuiApp(str(SAMPLE), compare_policies=["retry-vma"], replay_params={"seed": 1})


def test_compare_view(snap_compare: Any) -> None:
    assert snap_compare(compare_app(), terminal_size=(120, 40), run_before=after_replaying())


def test_compare_view_80x24_detail(snap_compare: Any) -> None:
    assert snap_compare(compare_app(), terminal_size=(80, 24), run_before=after_replaying("n"))
