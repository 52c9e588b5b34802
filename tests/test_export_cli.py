"""`faulttui export` end to end on the bundled sample trace, read back with the Perfetto protos.

(The output is track events, not ftrace: faulttui's own Perfetto importer is not expected to
read it back.)
"""

from __future__ import annotations

import gzip
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from conftest import COLD_8T
from test_export_perfetto import ParsedTrace, check_flows, parse_trace

from faulttui.analysis.compare import compare
from faulttui.analysis.load import load_recording
from faulttui.cli import main
from faulttui.model.timeline import Timeline
from faulttui.report.perfetto_export import synthetic_pid
from replay import ReplayParams

POLICIES = ("stock", "retry-vma")


@pytest.fixture(autouse=True)
def _cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(tmp_path / "cache"))


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["export", *args])
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def _check_timeline(parsed: ParsedTrace, position: int, timeline: Timeline) -> None:
    process = parsed.process_uuid(timeline.name)
    pid = synthetic_pid(position)
    assert parsed.tracks[process].process.pid == pid
    threads = parsed.thread_tracks(process)
    assert sum(1 for track in parsed.tracks.values()
               if track.HasField("thread") and track.thread.pid == pid) == len(threads)
    faults_by_tid: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for fault in timeline.faults:
        faults_by_tid[fault.tid].append((fault.start_ns, fault.latency_ns,
                                         f"0x{fault.address:x}"))
    lane_tids = {lane.tid for lane in timeline.threads}
    assert {tid - pid for tid in threads} == lane_tids | set(faults_by_tid)
    for tid in lane_tids:
        slices = parsed.thread_slices(threads[pid + tid])
        exported = [(s.ts, s.dur, s.args["address"]) for s in slices
                    if s.name.startswith("fault 0x")]
        assert sorted(exported) == sorted(faults_by_tid.get(tid, [])), f"thread {tid}"
        assert all(s.name == f"fault {s.args['address']}" for s in slices
                   if s.name.startswith("fault 0x"))
    holds = timeline.mmap_lock_holds
    hold_tracks = {uuid for uuid in parsed.named_tracks(process, "mmap_lock ")
                   if not parsed.tracks[uuid].HasField("counter")}
    hold_slices = parsed.slices_on(hold_tracks)
    assert len(hold_slices) == len(holds)
    assert Counter((s.ts, s.dur) for s in hold_slices) == Counter(
        (h.acquired_ns, h.hold_ns) for h in holds)
    counters = [uuid for uuid in parsed.named_tracks(process, "mmap_lock ")
                if parsed.tracks[uuid].HasField("counter")]
    assert len(counters) == len({h.mm for h in holds})
    for uuid in counters:
        values = [value for _, value in parsed.counters[uuid]]
        assert min(values) >= 0 and values[-1] == 0
        assert max(values) <= len(holds)


def test_export_recording_and_policies(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    output = tmp_path / "cold.pftrace"
    args = [str(COLD_8T), "-o", str(output)]
    for policy in POLICIES:
        args += ["-p", policy]
    code, out, err = _run(args, capsys)
    assert (code, out) == (0, "")
    assert f"wrote {output}: 3 timeline(s) (recording, stock, retry-vma)" in err
    assert "open it at https://ui.perfetto.dev" in err
    parsed = parse_trace(output.read_bytes())
    assert parsed.process_names() == ["recording", *POLICIES]

    recording = load_recording(str(COLD_8T))  # from the cache the export filled
    comparison = compare(recording, POLICIES, ReplayParams())
    timelines = list(comparison.timelines.values())
    assert [t.name for t in timelines] == ["recording", *POLICIES]
    for position, timeline in enumerate(timelines):
        _check_timeline(parsed, position, timeline)
    assert check_flows(parsed, max_per_wait=3) > 0


def test_gzip_output_and_flow_cap(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    output = tmp_path / "cold.perfetto-trace.gz"
    code, _, err = _run([str(COLD_8T), "-o", str(output), "--flows-per-wait", "1"], capsys)
    assert code == 0, err
    assert "uncompressed" in err
    parsed = parse_trace(gzip.decompress(output.read_bytes()))
    assert parsed.process_names() == ["recording"]
    check_flows(parsed, max_per_wait=1)


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "out.json"], "must end in .pftrace"),
    (["-o", ".pb"], "must end in .pftrace"),
    (["-o", "no/such/dir/out.pb"], "no directory"),
    (["-o", "out.pb", "-p", "no-such-policy"], "unknown policy"),
    (["-o", "out.pb", "-p", "recording"], "always included"),
    (["-o", "out.pb", "--memory-limit", "lots"], "--memory-limit"),
    (["-o", "out.pb", "--io-latency-scale", "0"], "io latency scale"),
])
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = _run([str(COLD_8T), *args], capsys)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1
    assert not any(tmp_path.glob("out.*"))


def test_missing_output_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run([str(COLD_8T)], capsys)
    assert code == 2 and "-o" in err
