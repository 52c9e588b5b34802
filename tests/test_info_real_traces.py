"""`faulttui info --json` end to end on the real traces, against an independent count.

`conftest.count_trace_text` counts events, faults and mmap_lock acquisitions from the
decompressed text with plain string splitting, written from DESIGN.md's counting rules and
not from faulttui's code; both must agree. cold-8t-writer's numbers are also pinned as
literals so that a regression in both the counter and faulttui still shows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import (
    BIGVMA,
    COLD_8T,
    FORK_8T,
    SHARED_MEMCG_64T,
    TC_8T_DAT,
    count_trace_text,
    info_contract_subset,
    read_trace_text,
    run_cli,
    split_event_line,
)

from faulttui.analysis.load import load_recording
from faulttui.model.metrics import compute_metrics

COLD_8T_EXPECTED = {
    "events": 65_550,
    "event_counts": {
        "block_rq_complete": 6097, "block_rq_issue": 6097, "contention_begin": 368,
        "contention_end": 368, "mm_filemap_add_to_page_cache": 6129, "mm_filemap_fault": 6099,
        "mmap_lock_acquire_returned": 6752, "mmap_lock_released": 6600,
        "mmap_lock_start_locking": 6646, "page_fault_user": 6321, "sched_switch": 7090,
        "sched_waking": 6291, "sys_enter_madvise": 10, "sys_enter_mmap": 118,
        "sys_enter_mprotect": 112, "sys_enter_munmap": 106, "sys_exit_madvise": 10,
        "sys_exit_mmap": 118, "sys_exit_mprotect": 112, "sys_exit_munmap": 106,
    },
    "lost_events": 0,
    "faults": {"total": 6321, "threads": 11, "io_sleep": 6089, "retry_mmap": 6089,
               "mmap_fallback": 123, "vma_only": 109},
    "mmap_lock": {"acquisitions": {"read": 6242, "write": 358}, "trylock_failed": 46,
                  "downgrades": 106},
}

NO_TRACE_CMD = pytest.mark.skipif(shutil.which("trace-cmd") is None,
                                  reason="trace-cmd is not installed (CI installs it)")
MEMCG_ABSENT = pytest.mark.skipif(not SHARED_MEMCG_64T.exists(),
                                  reason=f"{SHARED_MEMCG_64T} is not available")

REAL_TRACES = [
    pytest.param(COLD_8T, "ftrace-text", id="cold-8t-writer"),
    pytest.param(BIGVMA, "ftrace-text", id="bigvma-mprotect"),
    pytest.param(FORK_8T, "ftrace-text", id="fork-8t"),
    pytest.param(TC_8T_DAT, "trace-cmd", id="tc-8t.dat", marks=NO_TRACE_CMD),
    pytest.param(SHARED_MEMCG_64T, "ftrace-text", id="memcg-64t",
                 marks=[pytest.mark.slow, MEMCG_ABSENT]),
]


def info_json_from_cli(path: Path) -> dict[str, object]:
    result = run_cli("info", path, "--json", "--no-cache", timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


@pytest.mark.parametrize(("path", "fmt"), REAL_TRACES)
def test_info_matches_an_independent_count(path: Path, fmt: str) -> None:
    info = info_json_from_cli(path)
    expected = count_trace_text(read_trace_text(path)).as_info()
    assert info["format"] == fmt
    assert info_contract_subset(info) == expected
    assert info["warnings"] == []
    assert info["unknown_events"] == 0


def test_cold_8t_writer_pinned_numbers() -> None:
    info = info_json_from_cli(COLD_8T)
    assert info_contract_subset(info) == COLD_8T_EXPECTED


def test_independent_counter_agrees_with_the_pinned_numbers() -> None:
    """So that a change to the counter cannot silently follow a faulttui regression."""
    assert count_trace_text(read_trace_text(COLD_8T)).as_info() == COLD_8T_EXPECTED


def test_cached_second_open_gives_the_same_info() -> None:
    first = info_json_from_cli(COLD_8T)
    for _ in range(2):  # the first run writes the cache, the second reads it
        result = run_cli("info", COLD_8T, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == first


@pytest.mark.parametrize(("path", "fmt"), REAL_TRACES[:3])
def test_metrics_agree_with_info_on_the_contract_counts(path: Path, fmt: str) -> None:
    """DESIGN.md: for a recording, METRICS' faults.total and mmap_lock counts equal info's."""
    recording = load_recording(str(path), use_cache=False)
    info = recording.info_json()
    metrics = compute_metrics(recording.timeline).to_json()
    assert metrics["faults"]["total"] == info["faults"]["total"]
    for key in ("acquisitions", "trylock_failed", "downgrades"):
        assert metrics["mmap_lock"][key] == info["mmap_lock"][key]


@pytest.mark.parametrize(("path", "fmt"), REAL_TRACES[:3])
def test_metrics_retries_mmap_is_the_window_rule(path: Path, fmt: str) -> None:
    recording = load_recording(str(path), use_cache=False)
    metrics = compute_metrics(recording.timeline).to_json()
    assert metrics["faults"]["retries"]["mmap"] == recording.info_json()["faults"]["retry_mmap"]


def independent_forks(text: str) -> list[int]:
    """The tids of the forks in `text`, by DOMAIN's rule written with string splitting: a
    `clone` without CLONE_VM (0x100), or a `clone3` inside which the caller write-locked an mm."""
    forks: list[int] = []
    open_clone3: dict[int, bool] = {}  # tid -> wrote a lock so far
    for line in text.splitlines():
        parsed = split_event_line(line) if not line.startswith("#") else None
        if parsed is None:
            continue
        tid, name, body = parsed
        if name == "sys_enter_clone":
            flags = int(body.split(",")[0].split(":")[1].strip().removeprefix("0x"), 16)
            if not flags & 0x100:
                forks.append(tid)
        elif name == "sys_enter_clone3":
            open_clone3[tid] = False
        elif name == "mmap_lock_acquire_returned" and tid in open_clone3:
            open_clone3[tid] |= "write=true" in body and "success=true" in body
        elif name == "sys_exit_clone3" and open_clone3.pop(tid, False):
            forks.append(tid)
    return forks


def test_a_real_fork_trace_has_every_fork_as_a_writer() -> None:
    """fork-8t: `faulttui record` of sample_traces/tools/forkload.c (8 threads faulting on a
    cold file while the main thread forks 60 times)."""
    text = read_trace_text(FORK_8T)
    recording = load_recording(str(FORK_8T), use_cache=False)
    forks = [op for op in recording.timeline.writer_ops if op.op == "fork"]
    assert sorted(op.tid for op in forks) == sorted(independent_forks(text))
    assert len(forks) == 60
    # dup_mmap write-locks the caller's mm: every fork held it, and locked every VMA
    assert all(op.mmap_write_hold_ns > 0 and op.ret > 0 for op in forks)
    assert all(len(op.vma_ids) == len(recording.timeline.vmas) for op in forks)
    # the pthread_create clones (clone3 with CLONE_VM) are no writers
    assert recording.info_json()["writers"]["ops"] == len(forks) + sum(
        count for name, count in recording.stats.event_counts.items()
        if name.startswith("sys_enter_") and name not in ("sys_enter_clone", "sys_enter_clone3"))
