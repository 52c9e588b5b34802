"""Replays in forked workers give exactly what the same replays give in this process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import faulttui.analysis.parallel as parallel
from faulttui.analysis.compare import RECORDING, compare
from faulttui.analysis.load import Recording, load_recording
from replay import ReplayParams

SAMPLE = Path(__file__).parent.parent / "sample_traces" / "cold-8t-writer.txt.xz"
POLICIES = ["stock", "retry-vma", "hold-vma"]


@pytest.fixture(scope="module")
def recording() -> Recording:
    return load_recording(str(SAMPLE), use_cache=False)


def test_parallel_metrics_equal_sequential(recording: Recording) -> None:
    if parallel.worker_count(len(POLICIES)) == 0:
        pytest.skip("this machine replays in one process (one core or no fork)")
    params = ReplayParams(seed=7)
    sequential = compare(recording, POLICIES, params)
    forked = compare(recording, POLICIES, params, keep_timelines=False)
    assert forked.to_json_bytes() == sequential.to_json_bytes()
    assert list(forked.metrics) == [RECORDING, *POLICIES]
    assert forked.policies == tuple(POLICIES)
    assert list(forked.timelines) == [RECORDING]
    assert forked.events == sequential.events


def test_progress_reaches_the_parent_from_every_worker(recording: Recording) -> None:
    seen: dict[str, tuple[int, int]] = {}

    def progress(policy: str, done: int, total: int) -> None:
        seen[policy] = (done, total)

    compare(recording, POLICIES, progress=progress, keep_timelines=False)
    assert set(seen) == set(POLICIES)
    assert all(done == total for done, total in seen.values())


def test_a_worker_failure_is_raised_with_its_traceback(recording: Recording,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if parallel.worker_count(len(POLICIES)) == 0:
        pytest.skip("this machine replays in one process (one core or no fork)")

    def broken_simulate(*_args: object, **_kwargs: object) -> None:
        raise ValueError("engine exploded")

    monkeypatch.setattr(parallel, "simulate", broken_simulate)
    with pytest.raises(RuntimeError, match="engine exploded"):
        compare(recording, POLICIES, keep_timelines=False)


def test_no_fork_while_another_thread_runs() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert parallel.worker_count(3) == 0
    finally:
        release.set()
        other.join()


def test_one_policy_replays_in_this_process() -> None:
    assert parallel.worker_count(1) == 0
