"""SVG snapshots of the TUI (pytest-textual-snapshot): main screen, detail pane, help.

Regenerate after an intended visual change with `pytest tests/test_tui_snapshots.py
--snapshot-update` and review the SVGs in tests/__snapshots__/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from faulttui.tui.app import FaultTuiApp
from faulttui.tui.main_screen import MainScreen

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "cold-8t-writer.txt.xz"


@pytest.fixture(scope="module")
def shared_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snapshot-cache")


@pytest.fixture(autouse=True)
def snapshot_environment(shared_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(shared_cache_dir))


def after_loading(*keys: str, settle_s: float = 0.0) -> Callable[[Pilot[None]], Any]:
    async def run_before(pilot: Pilot[None]) -> None:
        for _ in range(600):
            if isinstance(pilot.app.screen, MainScreen):
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
                        run_before=after_loading("j", "j", "n", "n", "f", settle_s=0.5))


def test_help_screen(snap_compare: Any) -> None:
    assert snap_compare(FaultTuiApp(str(SAMPLE)), terminal_size=(120, 40),
                        run_before=after_loading("question_mark"))
