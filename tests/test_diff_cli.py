"""`faulttui diff` end to end through the console entry point (replay stubbed with hand-made
metrics, so these tests do not depend on replay numbers)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_report_fixtures import sample_metrics

from faulttui.cli import diff as diff_cli
from faulttui.cli import main
from faulttui.model.metrics import Metrics
from replay import ReplayParams

SAMPLE = str(Path(__file__).parent.parent / "sample_traces" / "cold-8t-writer.txt.xz")


@pytest.fixture(autouse=True)
def _cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def replay_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[str, ...]]]:
    calls: list[tuple[str, tuple[str, ...]]] = []

    def fake(trace: str, policies: Sequence[str], params: Mapping[str, Any],
             use_cache: bool) -> dict[str, Metrics]:
        calls.append((trace, tuple(policies)))
        metrics = sample_metrics()
        return {name: metrics[name] for name in ("recording", *policies)}

    monkeypatch.setattr(diff_cli, "replay_metrics", fake)
    return calls


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["diff", *args])
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def test_text_report_on_stdout(replay_calls: list[Any], capsys: pytest.CaptureFixture[str]
                               ) -> None:
    code, out, err = _run(["t.txt", "-p", "retry-vma", "-p", "hold-vma"], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("faulttui diff: t.txt\n")
    assert "Headline" in out and "Replay parameters" in out
    assert replay_calls == [("t.txt", ("stock", "retry-vma", "hold-vma"))]
    assert "rerun: faulttui diff t.txt --baseline stock -p retry-vma -p hold-vma --seed 0" in out


def test_json_to_file(replay_calls: list[Any], capsys: pytest.CaptureFixture[str],
                      tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    code, out, err = _run(["t.txt", "-p", "retry-vma", "--format", "json", "-o", str(target),
                           "--seed", "7", "--memory-limit", "24M", "--io-model", "queue",
                           "--io-service-us", "120"], capsys)
    assert (code, out, err) == (0, "", "")
    document = json.loads(target.read_text())
    assert document["params"]["seed"] == 7
    assert document["params"]["memory_limit"] == 24 << 20
    assert document["params"]["io_service_ns"] == 120_000
    assert document["rerun"] == ("faulttui diff t.txt --baseline stock -p retry-vma --seed 7 "
                                 "--memory-limit 24M --io-model queue --io-service-us 120")
    assert list(document["timelines"]) == ["recording", "stock", "retry-vma"]


@pytest.mark.parametrize("output_format", ["markdown", "html"])
def test_other_formats(replay_calls: list[Any], capsys: pytest.CaptureFixture[str],
                       output_format: str) -> None:
    code, out, _ = _run(["t.txt", "-p", "retry-vma", "--format", output_format], capsys)
    assert code == 0
    assert out.startswith("## faulttui diff" if output_format == "markdown" else "<!DOCTYPE")


def test_violated_gates_exit_1_and_name_each_gate(replay_calls: list[Any],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["t.txt", "-p", "retry-vma", "-p", "hold-vma",
                           "--fail-on", "mmap_lock.acquisitions.read>0",
                           "--fail-on", "writers.latency.max>+100%",
                           "--fail-on", "fault_latency.p99>+10%"], capsys)
    assert code == 1
    assert "Gates: 6 checked, 2 violated" in out  # the report is still written
    assert err.splitlines() == [
        "faulttui: gate violated: mmap_lock.acquisitions.read>0 for retry-vma: 20 vs stock 395 "
        "(-95%)",
        "faulttui: gate violated: writers.latency.max>+100% for hold-vma: 2.40 ms vs stock "
        "400 us (+500%)",
    ]


def test_passing_gates_exit_0(replay_calls: list[Any], capsys: pytest.CaptureFixture[str]
                              ) -> None:
    code, _, err = _run(["t.txt", "-p", "retry-vma", "--fail-on", "fault_latency.p99>+10%"],
                        capsys)
    assert (code, err) == (0, "")


@pytest.mark.parametrize(("args", "reason"), [
    (["--fail-on", "fault_latency.p99>+x"], "malformed --fail-on 'fault_latency.p99>+x'"),
    (["--fail-on", "latency.p99>1"], "unknown metric 'latency.p99'"),
    (["-p", "no-such-policy"], "unknown policy 'no-such-policy'"),
    (["--baseline", "no-such-policy"], "unknown policy 'no-such-policy'"),
    (["--memory-limit", "lots"], "--memory-limit 'lots'"),
    (["--memory-limit", "10"], "memory limit must be at least one page"),
    (["--io-latency-scale", "0"], "io latency scale must be positive"),
])
def test_bad_usage_exits_2_with_one_line_before_any_replay(
        replay_calls: list[Any], capsys: pytest.CaptureFixture[str], args: list[str],
        reason: str) -> None:
    code, out, err = _run(["t.txt", "-p", "retry-vma", *args], capsys)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and reason in err
    assert replay_calls == []


def test_unwritable_output_exits_2(replay_calls: list[Any], capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    code, _, err = _run(["t.txt", "-p", "retry-vma", "-o", str(tmp_path / "no" / "x.txt")],
                        capsys)
    assert code == 2 and "cannot write the report" in err and len(err.splitlines()) == 1


def test_help_documents_gate_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    for name in ("faults.retries.mmap", "fault_latency.DIST", "fault_latency_ns.p99",
                 "mmap_lock.wait_ns.read.DIST", "writers.latency_ns.DIST", "+N%", "--fail-on",
                 "mmap_lock.acquisitions.read", "buckets.[100ms,inf)"):
        assert name in out


def test_baseline_recording_needs_no_baseline_replay(
        replay_calls: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["t.txt", "--baseline", "recording", "-p", "stock"], capsys)
    assert code == 0
    assert replay_calls == [("t.txt", ("stock",))]
    assert "baseline recording; compared: stock" in out


def test_recording_metrics_from_a_real_trace() -> None:
    metrics = diff_cli.replay_metrics(SAMPLE, [], ReplayParams(), True)
    assert list(metrics) == ["recording"]
    assert metrics["recording"].faults_total == 6321
