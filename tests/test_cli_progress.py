"""The progress lines on stderr: what the load and the replays say, redrawn in place and
cleared at the end (shown only on a terminal; forced on here)."""

from __future__ import annotations

import pytest

from faulttui.cli import progress as progress_module
from faulttui.cli.progress import ReplayProgress, StderrProgress


@pytest.fixture(autouse=True)
def no_redraw_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "REDRAW_S", 0.0)


def frames(stderr: str) -> list[str]:
    return [frame for frame in stderr.replace("\033[K", "").split("\r") if frame]


def test_the_load_says_how_much_is_reconstructed_not_how_much_is_read(
        capsys: pytest.CaptureFixture[str]) -> None:
    with StderrProgress("loading t.txt.xz", enabled=True) as progress:
        progress(1_000_000, 8_000_000)
        progress.fraction(0.25)
        progress(8_000_000, 8_000_000)  # the reader runs ahead: not shown any more
        progress.fraction(1.0)
    stderr = capsys.readouterr().err
    assert frames(stderr) == ["loading t.txt.xz:  12% of 8.0 MB read",
                              "loading t.txt.xz:  25% reconstructed",
                              "loading t.txt.xz: 100% reconstructed"]
    assert stderr.endswith("\r\033[K")  # the line is cleared at the end


def test_the_replays_count_faults_per_policy(capsys: pytest.CaptureFixture[str]) -> None:
    with ReplayProgress(enabled=True) as progress:
        progress("stock", 45_000, 89_231)
        progress("hold-vma", 89_231, 89_231)
    assert frames(capsys.readouterr().err) == [
        "preparing the replays (the workload of the trace)",
        "replaying stock:  50% of 89,231 faults",
        "replaying hold-vma: 100% of 89,231 faults"]


def test_nothing_is_drawn_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with StderrProgress("loading", enabled=False) as progress:
        progress.fraction(0.5)
    with ReplayProgress(enabled=False) as replays:
        replays("stock", 1, 2)
    assert capsys.readouterr().err == ""
