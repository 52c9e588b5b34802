"""`faulttui generate`, and a synthetic workload as a trace for info / replay / diff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faulttui.analysis.load import load_recording

IORETRY = ("ioretry", "--threads", "8", "--file-mb", "1", "--memory-limit-mb", "1",
           "--rounds", "2")
# keys of `info --json` that legitimately differ between the JSON and its emitted trace
SOURCE_KEYS = {"format", "trace", "duration_ns", "vmas", "maps_snapshot_lines"}


def run_faulttui(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faulttui", *args], capture_output=True, text=True, check=False,
        env={"FAULTTUI_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"})


def info(path: Path, cache_dir: Path) -> dict[str, object]:
    result = run_faulttui("info", str(path), "--json", cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr
    document: dict[str, object] = json.loads(result.stdout)
    return document


@pytest.mark.parametrize("scenario", [
    IORETRY, ("app-launch", "--threads", "12", "--faults-per-thread", "15"),
    ("pft", "--threads", "3", "--rounds", "2", "--region-kb", "64"),
    ("large-vma", "--threads", "3", "--faults-per-thread", "20", "--writer-ops", "3"),
    ("fork-storm", "--threads", "3", "--faults-per-thread", "20", "--forks", "3")])
def test_emitted_ftrace_reads_back_to_the_same_info(tmp_path: Path,
                                                     scenario: tuple[str, ...]) -> None:
    work, trace = tmp_path / "work.json", tmp_path / "work.txt.xz"
    assert run_faulttui("generate", *scenario, "-o", str(work), cache_dir=tmp_path).returncode == 0
    result = run_faulttui("generate", *scenario, "--emit", "ftrace", "-o", str(trace),
                          cache_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    synthetic, imported = info(work, tmp_path), info(trace, tmp_path)
    assert synthetic["format"] == "synthetic"
    assert imported["format"] == "ftrace-text"
    assert imported["warnings"] == [] and imported["unknown_events"] == 0
    # writers included: a fork is printed as its sys_clone around dup_mmap's write section
    assert {k: v for k, v in synthetic.items() if k not in SOURCE_KEYS} == \
        {k: v for k, v in imported.items() if k not in SOURCE_KEYS}


def test_emitted_forks_read_back_as_the_same_writers(tmp_path: Path) -> None:
    """Each fork of the run comes back as a `fork` writer with its times and lock wait/hold,
    locking every VMA, so that a replay of the trace stalls the fork as the workload's does."""
    scenario = ("fork-storm", "--threads", "3", "--faults-per-thread", "20", "--forks", "3")
    work, trace = tmp_path / "work.json", tmp_path / "work.txt"
    for args in ((), ("--emit", "ftrace")):
        out = trace if args else work
        result = run_faulttui("generate", *scenario, *args, "-o", str(out), cache_dir=tmp_path)
        assert result.returncode == 0, result.stderr
    assert "sys_clone(clone_flags: 0x1200011, newsp: 0, parent_tidptr: 0, " in trace.read_text()

    def writers(path: Path) -> list[tuple[object, ...]]:
        timeline = load_recording(str(path), use_cache=False).timeline
        start = min(op.start_ns for op in timeline.writer_ops)
        if path == trace:  # the synthetic run leaves a fork's VMAs to the replay: every one
            assert {op.vma_ids for op in timeline.writer_ops} == {
                tuple(vma.vma_id for vma in timeline.vmas)}
        return [(op.op, op.tid, op.start_ns - start, op.latency_ns, op.mmap_write_wait_ns,
                 op.mmap_write_hold_ns, op.addr, op.length) for op in timeline.writer_ops]

    simulated, imported = writers(work), writers(trace)
    assert [op[0] for op in simulated] == ["fork"] * 3
    assert imported == simulated

    def fork_latency(path: Path) -> dict[str, dict[str, int]]:
        result = run_faulttui("replay", str(path), "-p", "stock", "-p", "hold-vma", "--json",
                              cache_dir=tmp_path)
        assert result.returncode == 0, result.stderr
        timelines = json.loads(result.stdout)["timelines"]
        return {name: metrics["writers"]["by_op"]["fork"]
                for name, metrics in timelines.items()}

    from_work, from_trace = fork_latency(work), fork_latency(trace)
    assert from_trace == from_work
    # hold-vma: readers sleep for I/O holding their VMA, and the fork waits for them
    assert from_trace["hold-vma"]["max"] > 10 * from_trace["stock"]["max"]


def test_replay_and_diff_take_a_synthetic_workload(tmp_path: Path) -> None:
    work = tmp_path / "work.json"
    assert run_faulttui("generate", *IORETRY, "-o", str(work), cache_dir=tmp_path).returncode == 0
    result = run_faulttui("replay", str(work), "-p", "stock", "-p", "retry-vma", "--json",
                          cache_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    timelines = json.loads(result.stdout)["timelines"]
    # the replay runs the spec's own workload (read-around included): stock is the recording
    recorded, stock = timelines["recording"], timelines["stock"]
    assert stock["faults"] == recorded["faults"]
    assert stock["mmap_lock"]["acquisitions"] == recorded["mmap_lock"]["acquisitions"]
    assert stock["makespan_ns"] == recorded["makespan_ns"]
    assert 0 < recorded["faults"]["major"] < 8 * 256 * 2  # read-around makes most faults minor
    assert timelines["retry-vma"]["faults"]["retries"]["mmap"] == 0
    result = run_faulttui("diff", str(work), "-p", "retry-vma", cache_dir=tmp_path)
    assert result.returncode == 0, result.stderr


def test_load_recording_simulates_stock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work.json"
    assert run_faulttui("generate", *IORETRY, "-o", str(work), cache_dir=tmp_path).returncode == 0
    recording = load_recording(str(work))
    assert recording.format == "synthetic" and recording.stats.format == "synthetic"
    assert recording.faults.total == 8 * 256 * 2
    assert recording.lock_counts.write == 8 * 2 * 2  # an mmap and a munmap per round
    assert recording.lock_counts.downgrades == 8 * 2
    assert recording.stats.events == sum(recording.stats.event_counts.values())
    again = load_recording(str(work))
    assert again.from_cache and again.faults == recording.faults


def test_a_bad_workload_is_one_line_and_exit_2(tmp_path: Path) -> None:
    work = tmp_path / "bad.json"
    work.write_text('{"kind": "faulttui-synthetic", "schema_version": 1, "threads": ['
                    '{"name": "t", "program": [{"op": "sleep", "ns": -5}]}]}')
    result = run_faulttui("info", str(work), cache_dir=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == \
        f"faulttui: {work}: threads[0].program[0].ns: must be >= 0"


def test_generate_help_lists_every_scenario_parameter(tmp_path: Path) -> None:
    result = run_faulttui("generate", "--help", cache_dir=tmp_path)
    assert result.returncode == 0
    for needle in ("ioretry", "app-launch", "large-vma", "fork-storm", "pft",
                   "--memory-limit-mb", "--threads", "--io-latency-us"):
        assert needle in result.stdout


def test_generate_rejects_an_unknown_parameter(tmp_path: Path) -> None:
    result = run_faulttui("generate", "pft", "--cores", "4", "-o", str(tmp_path / "x.json"),
                          cache_dir=tmp_path)
    assert result.returncode == 2
    assert "no parameter 'cores'" in result.stderr


def test_loading_a_synthetic_workload_reports_its_simulation(tmp_path: Path) -> None:
    """The share of the `stock` run simulated so far comes through load_recording's
    `reconstructed` callback (the TUI's loading screen and the CLI's progress line)."""
    work = tmp_path / "work.json"
    assert run_faulttui("generate", *IORETRY, "-o", str(work), cache_dir=tmp_path).returncode == 0
    shares: list[float] = []
    recording = load_recording(str(work), use_cache=False, reconstructed=shares.append)
    assert recording.format == "synthetic" and recording.faults.total > 0
    assert shares and shares == sorted(shares) and shares[0] >= 0 and shares[-1] <= 1.0
