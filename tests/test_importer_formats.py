"""Importer tests: the ftrace text dialects, .dat through trace-cmd, compression, field forms.

Traces are tiny and hand-written (see conftest's line builders); each test checks the
normalized events (`open_trace(...).events()`) and/or the `info --json` counts.
"""

from __future__ import annotations

import gzip
import io
import lzma
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import (
    MM,
    TC_8T_DAT,
    TRACEFS_HEADER,
    ThreadScript,
    block_complete_body,
    block_issue_body,
    count_trace_text,
    fault_body,
    filemap_body,
    info_contract_subset,
    lock_body,
    needs_trace_cmd,
    switch_body,
    switch_plugin_body,
    tracecmd_line,
    tracefs_line,
    waking_body,
    write_trace,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb
from perfetto_fixtures import FLAVOURS, convert_text_trace, len_field, trace_record

from faulttui.analysis.load import load_recording
from faulttui.importers import Event, open_trace
from faulttui.importers.events import UNKNOWN_TGID, ImportStats
from faulttui.importers.perfetto import read_perfetto

T0 = 377_000_000.0
PID, TGID = 8169, 8163
WRITER = 8172


def io_retry_with_writer_events(dialect: str) -> list[tuple[str, int, int, float, str, str]]:
    """(comm, pid, cpu, ts_us, name, body) of a major fault retried under mmap_lock and an
    mprotect writer, with the bodies each dialect prints (sched_switch, syscalls)."""
    def switch(prev: tuple[str, int], state: str, following: tuple[str, int]) -> str:
        if dialect == "trace-cmd":
            return switch_plugin_body(prev[0], prev[1], state, following[0], following[1])
        return switch_body(prev[0], prev[1], state, following[0], following[1])

    me, idle = ("faultload", PID), ("swapper/0", 0)
    return [
        ("faultload", PID, 0, T0, "page_fault_user", fault_body()),
        ("faultload", PID, 0, T0 + 1, "mm_filemap_fault", filemap_body()),
        ("faultload", PID, 0, T0 + 2, "block_rq_issue", block_issue_body()),
        ("faultload", PID, 0, T0 + 3, "sched_switch", switch(me, "D", idle)),
        ("faultload", WRITER, 1, T0 + 10, "sys_enter_mprotect",
         "start: 0x7f86cf8f7000, len: 0x00100000, prot: 0x00000001"),
        ("faultload", WRITER, 1, T0 + 11, "mmap_lock_start_locking", lock_body(True)),
        ("faultload", WRITER, 1, T0 + 12, "mmap_lock_acquire_returned", lock_body(True, True)),
        ("faultload", WRITER, 1, T0 + 20, "mmap_lock_released", lock_body(True)),
        ("faultload", WRITER, 1, T0 + 21, "sys_exit_mprotect", "0x0"),
        ("<idle>", 0, 0, T0 + 90, "block_rq_complete", block_complete_body()),
        ("<idle>", 0, 0, T0 + 91, "sched_waking", waking_body("faultload", PID)),
        ("<idle>", 0, 0, T0 + 92, "sched_switch", switch(idle, "R", me)),
        ("faultload", PID, 0, T0 + 93, "mmap_lock_start_locking", lock_body(False)),
        ("faultload", PID, 0, T0 + 94, "mmap_lock_acquire_returned", lock_body(False, True)),
        ("faultload", PID, 0, T0 + 95, "mmap_lock_released", lock_body(False)),
    ]


EXPECTED_EVENT_COUNTS = {
    "block_rq_complete": 1, "block_rq_issue": 1, "mm_filemap_fault": 1,
    "mmap_lock_acquire_returned": 2, "mmap_lock_released": 2, "mmap_lock_start_locking": 2,
    "page_fault_user": 1, "sched_switch": 2, "sched_waking": 1, "sys_enter_mprotect": 1,
    "sys_exit_mprotect": 1,
}
EXPECTED_COUNTS = {
    "faults": {"total": 1, "threads": 1, "io_sleep": 1, "retry_mmap": 1, "mmap_fallback": 0,
               "vma_only": 0},
    "mmap_lock": {"acquisitions": {"read": 1, "write": 1}, "trylock_failed": 0, "downgrades": 0},
}


def tracefs_trace(*, flags: bool = True, tgid: bool = False) -> list[str]:
    return [
        tracefs_line(comm, pid, ts, name, body, cpu=cpu, flags="d..2." if flags else None,
                     tgid=(TGID if pid else 0) if tgid else None)
        for comm, pid, cpu, ts, name, body in io_retry_with_writer_events("tracefs")
    ]


def tracecmd_trace() -> list[str]:
    return [tracecmd_line(comm, pid, ts, name, body, cpu=cpu)
            for comm, pid, cpu, ts, name, body in io_retry_with_writer_events("trace-cmd")]


def read_events(path: Path) -> tuple[list[Event], object]:
    source = open_trace(str(path))
    return list(source.events()), source


def contract_counts(path: Path) -> dict[str, object]:
    info = load_recording(str(path), use_cache=False).info_json()
    return {"faults": info["faults"], "mmap_lock": info["mmap_lock"]}


# --- dialects ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("flags", "tgid"),
    [(True, False), (False, False), (True, True), (False, True)],
    ids=["flags", "no-flags", "flags+tgid", "no-flags+tgid"],
)
def test_raw_tracefs_columns(tmp_path: Path, flags: bool, tgid: bool) -> None:
    path = write_trace(tmp_path / "trace.txt", tracefs_trace(flags=flags, tgid=tgid))
    events, source = read_events(path)
    assert source.format == "ftrace-text"
    assert source.stats.event_counts == EXPECTED_EVENT_COUNTS
    assert source.stats.warnings == []
    first = events[0]
    assert (first.ts_ns, first.cpu, first.tid, first.comm, first.name) == (
        377_000_000_000, 0, PID, "faultload", "page_fault_user")
    assert first.tgid == (TGID if tgid else UNKNOWN_TGID)
    assert first.fields == {"address": 0x7F86E3A03000, "ip": 0x5586DDF0361E, "error_code": 4}
    assert first.line == len(TRACEFS_HEADER.splitlines()) + 1
    assert contract_counts(path) == EXPECTED_COUNTS


def test_record_tgid_column_with_unknown_tgid(tmp_path: Path) -> None:
    """`record-tgid` prints `(-------)` for a task whose tgid was not saved."""
    line = tracefs_line("faultload", PID, T0, "page_fault_user", fault_body(), tgid=0)
    line = line.replace("(    0)", "(-------)")
    events, source = read_events(write_trace(tmp_path / "trace.txt", [line]))
    assert source.stats.warnings == []
    assert (events[0].tid, events[0].tgid) == (PID, UNKNOWN_TGID)


def test_raw_tracefs_syscalls_are_normalized(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "trace.txt", tracefs_trace())
    events, _ = read_events(path)
    by_name: dict[str, Event] = {}
    for event in events:
        by_name.setdefault(event.name, event)  # the first of each name
    assert by_name["sys_enter_mprotect"].fields == {
        "start": 0x7F86CF8F7000, "len": 0x100000, "prot": 1}
    assert by_name["sys_exit_mprotect"].fields == {"ret": 0}
    assert by_name["mmap_lock_acquire_returned"].fields["write"] is True
    assert by_name["mmap_lock_acquire_returned"].fields["success"] is True
    assert by_name["mmap_lock_acquire_returned"].fields["mm"] == MM


@pytest.mark.parametrize(("body", "fields"), [
    # 6.18: below 10 `%lu`, else `0x%lx`
    ("start: 0x7f86cf8f7000, len: 0x10000, prot: 1", {"start": 0x7F86CF8F7000, "len": 0x10000,
                                                      "prot": 1}),
    # before 6.18, `%lx` without 0x: `len: 10000` is 64 KiB, not ten thousand bytes
    ("start: 7f86cf8f7000, len: 10000, prot: 1", {"start": 0x7F86CF8F7000, "len": 0x10000,
                                                  "prot": 1}),
    ("start: 7f86cf8f7000, len: 1000, prot: 5", {"start": 0x7F86CF8F7000, "len": 0x1000,
                                                 "prot": 5}),
])
def test_raw_syscall_arguments_are_hex_with_or_without_0x(tmp_path: Path, body: str,
                                                           fields: dict[str, int]) -> None:
    thread = ThreadScript(WRITER).at(T0)
    thread.event("sys_enter_mprotect", body)
    thread.event("sys_exit_mprotect", "0x0")
    thread.fault()
    events, source = read_events(write_trace(tmp_path / "trace.txt", thread.lines))
    assert source.stats.warnings == []
    assert events[0].fields == fields


def test_tracecmd_report_text(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "report.txt", tracecmd_trace(), header="cpus=2\n")
    events, source = read_events(path)
    assert source.stats.format == "trace-cmd"
    assert source.stats.event_counts == EXPECTED_EVENT_COUNTS
    assert source.stats.warnings == []
    switch = next(event for event in events if event.name == "sched_switch")
    assert switch.fields == {
        "prev_comm": "faultload", "prev_pid": PID, "prev_prio": 120, "prev_state": "D",
        "next_comm": "swapper/0", "next_pid": 0, "next_prio": 120}
    enter = next(event for event in events if event.name == "sys_enter_mprotect")
    assert enter.fields == {"start": 0x7F86CF8F7000, "len": 0x100000, "prot": 1}
    assert events[0].ts_ns == 377_000_000_000  # ns timestamps (`report -t`)
    assert load_recording(str(path), use_cache=False).format == "trace-cmd"
    assert contract_counts(path) == EXPECTED_COUNTS


def test_tracecmd_and_tracefs_dialects_agree(tmp_path: Path) -> None:
    raw = write_trace(tmp_path / "raw.txt", tracefs_trace())
    report = write_trace(tmp_path / "report.txt", tracecmd_trace(), header="cpus=2\n")
    raw_events, _ = read_events(raw)
    report_events, _ = read_events(report)
    assert [(e.ts_ns, e.tid, e.name, e.fields) for e in raw_events] == [
        (e.ts_ns, e.tid, e.name, e.fields) for e in report_events]


@pytest.mark.parametrize(
    ("body", "ret"),
    [("0x0", 0), ("0x7f86cf8f7000", 0x7F86CF8F7000), ("0xfffffffffffffff4", -12), ("-22", -22)],
)
def test_syscall_return_values_are_signed(tmp_path: Path, body: str, ret: int) -> None:
    thread = ThreadScript(WRITER).at(T0).fault()
    thread.event("sys_enter_mmap", "addr: 0x0, len: 0x1000, prot: 0x3, flags: 0x22, fd: -1, off: 0x0")
    thread.event("sys_exit_mmap", body)
    events, _ = read_events(write_trace(tmp_path / "trace.txt", thread.lines))
    assert events[-1].name == "sys_exit_mmap"
    assert events[-1].fields == {"ret": ret}


@needs_trace_cmd()
def test_dat_through_trace_cmd() -> None:
    events, source = read_events(TC_8T_DAT)
    assert source.format == "trace-cmd"
    assert source.container == "dat"
    assert source.stats.events == len(events) == 48_917
    assert source.stats.warnings == []
    first = events[0]
    assert (first.tid, first.name, first.ts_ns) == (8504, "page_fault_user", 392_018_508_235)
    lock = next(event for event in events if event.name == "mmap_lock_start_locking")
    assert lock.fields == {"mm": "0xffff888100075dc0", "memcg": "5018", "write": True}
    switch = next(event for event in events if event.name == "sched_switch")
    assert switch.fields["prev_state"] == "R"
    assert switch.fields["next_pid"] == 8506
    assert source.stats.event_counts["sys_enter_mprotect"] > 0


@needs_trace_cmd()
def test_xz_compressed_dat(tmp_path: Path) -> None:
    packed = tmp_path / "tc.dat.xz"
    packed.write_bytes(lzma.compress(TC_8T_DAT.read_bytes(), preset=0))
    source = open_trace(str(packed))
    assert (source.format, source.compression) == ("trace-cmd", "xz")
    assert sum(1 for _ in source.events()) == 48_917


@needs_trace_cmd()
def test_a_cut_dat_says_it_may_be_incomplete(tmp_path: Path) -> None:
    from faulttui.errors import TraceFormatError

    cut = tmp_path / "cut.dat"
    cut.write_bytes(TC_8T_DAT.read_bytes()[:800_000])
    with pytest.raises(TraceFormatError, match="is the file complete"):
        list(open_trace(str(cut)).events())


def test_dat_without_trace_cmd_names_the_package(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from faulttui.errors import TraceFormatError

    monkeypatch.setattr(shutil, "which", lambda program: None)
    source = open_trace(str(TC_8T_DAT))
    with pytest.raises(TraceFormatError, match="trace-cmd") as caught:
        list(source.events())
    assert str(caught.value).startswith(str(TC_8T_DAT))


# --- compression sniffed from content ------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "compress"),
    [("plain.txt", None), ("xz-content.txt", "xz"), ("gzip-content.txt", "gzip"),
     ("named.gz", "gzip"), ("named.xz", "xz"), ("wrong.xz", "gzip"), ("plain-named.gz", None)],
)
def test_compression_is_sniffed_from_content(tmp_path: Path, name: str,
                                             compress: str | None) -> None:
    path = write_trace(tmp_path / name, tracefs_trace(), compress=compress)
    source = open_trace(str(path))
    assert source.compression == compress
    assert source.format == "ftrace-text"
    assert contract_counts(path) == EXPECTED_COUNTS


@pytest.mark.parametrize("keep", ["header only", "half"])
def test_damaged_xz_stream(tmp_path: Path, keep: str) -> None:
    """Cut inside the first block: an error naming the file; later: a warning, data kept."""
    from faulttui.errors import TraceFormatError

    packed = lzma.compress(("".join(line + "\n" for line in tracefs_trace()) * 3_000).encode())
    path = tmp_path / "damaged.txt.xz"
    path.write_bytes(packed[:20] if keep == "header only" else packed[: len(packed) // 2])
    if keep == "header only":
        with pytest.raises(TraceFormatError, match="damaged compressed data") as caught:
            load_recording(str(path), use_cache=False)
        assert str(caught.value).startswith(str(path))
        return
    info = load_recording(str(path), use_cache=False).info_json()
    assert any("damaged compressed data" in warning for warning in info["warnings"])
    assert info["faults"]["total"] > 0


# --- field forms ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("memcg", "expected"),
    [("memcg_id=5018", "5018"), ("memcg_path=/system.slice/faultload", "/system.slice/faultload"),
     ("memcg_path=", ""), ("memcg_id=1", "1")],
)
def test_mmap_lock_memcg_forms(tmp_path: Path, memcg: str, expected: str) -> None:
    thread = ThreadScript(PID).at(T0).fault()
    thread.event("mmap_lock_start_locking", lock_body(False, memcg=memcg))
    thread.event("mmap_lock_acquire_returned", lock_body(False, True, memcg=memcg))
    thread.event("mmap_lock_released", lock_body(False, memcg=memcg))
    path = write_trace(tmp_path / "trace.txt", thread.lines)
    events, source = read_events(path)
    assert source.stats.warnings == []
    assert [event.fields["memcg"] for event in events[1:]] == [expected] * 3
    assert [event.fields["write"] for event in events[1:]] == [False] * 3
    info = load_recording(str(path), use_cache=False).info_json()
    assert info["mmap_lock"]["acquisitions"] == {"read": 1, "write": 0}
    assert info["faults"]["mmap_fallback"] == 1


@pytest.mark.parametrize("ioprio", [True, False], ids=["ioprio-triple", "no-ioprio"])
def test_block_events_with_and_without_ioprio(tmp_path: Path, ioprio: bool) -> None:
    thread = ThreadScript(PID).at(T0).fault().filemap()
    thread.event("block_rq_issue", block_issue_body(ioprio=ioprio))
    thread.switch_out("D").at(T0 + 80)
    thread.lines.append(tracefs_line("<idle>", 0, T0 + 80, "block_rq_complete",
                                     block_complete_body(ioprio=ioprio)))
    thread.at(T0 + 82).switch_in()
    path = write_trace(tmp_path / "trace.txt", thread.lines)
    events, source = read_events(path)
    assert source.stats.warnings == []
    issue = next(event for event in events if event.name == "block_rq_issue")
    assert issue.fields == {"dev": "254,0", "rwbs": "R", "bytes": 4096, "cmd": "",
                            "sector": 47366168, "nr_sector": 8,
                            "ioprio": "be,0,4" if ioprio else "", "comm": "faultload"}
    complete = next(event for event in events if event.name == "block_rq_complete")
    assert complete.fields["sector"] == 47366168
    assert complete.fields["error"] == 0
    timeline = load_recording(str(path), use_cache=False).timeline
    (request,) = timeline.io_requests
    assert (request.tid, request.latency_ns) == (PID, 78_000)
    assert timeline.faults[0].io_requests == 1


@pytest.mark.parametrize(
    ("comm", "pid"),
    [("faultload", 8169), ("my worker", 77), ("kworker/0:1H", 42), ("memfd:sealed-91", 1234),
     ("<...>", 8169), ("ksoftirqd/1", 21), ("a-b-c", 9), ("x", 1), ("(sd-pam)", 1201),
     ("Web Content", 3110), ("gdbus-42", 4242)],
)
def test_comms_with_spaces_dashes_colons(tmp_path: Path, comm: str, pid: int) -> None:
    lines = [tracefs_line(comm, pid, T0, "page_fault_user", fault_body()),
             tracefs_line(comm, pid, T0 + 1, "mm_filemap_fault", filemap_body())]
    events, source = read_events(write_trace(tmp_path / "trace.txt", lines))
    assert source.stats.warnings == []
    assert [(event.comm, event.tid) for event in events] == [(comm, pid)] * 2


def test_unknown_comm_keeps_the_known_name(tmp_path: Path) -> None:
    lines = [tracefs_line("faultload", PID, T0, "page_fault_user", fault_body()),
             tracefs_line("<...>", PID, T0 + 1, "page_fault_user", fault_body())]
    timeline = load_recording(str(write_trace(tmp_path / "t.txt", lines)),
                              use_cache=False).timeline
    assert timeline.thread(PID).comm == "faultload"


@pytest.mark.parametrize(
    ("marker", "lost"),
    [("CPU:1 [LOST 123 EVENTS]", 123), ("CPU:0 [LOST 1 EVENTS]", 1),
     ("CPU:1 [4567 EVENTS DROPPED]", 4567)],
)
def test_lost_event_markers_are_counted(tmp_path: Path, marker: str, lost: int) -> None:
    lines = tracefs_trace()
    lines.insert(5, marker)
    path = write_trace(tmp_path / "trace.txt", lines)
    info = load_recording(str(path), use_cache=False).info_json()
    assert info["lost_events"] == lost
    assert info["events"] == sum(EXPECTED_EVENT_COUNTS.values())
    assert any(str(lost) in warning and "LOST" in warning for warning in info["warnings"])


def test_two_lost_markers_add_up(tmp_path: Path) -> None:
    lines = tracefs_trace()
    lines[3:3] = ["CPU:1 [LOST 100 EVENTS]"]
    lines[9:9] = ["CPU:0 [LOST 23 EVENTS]"]
    info = load_recording(str(write_trace(tmp_path / "t.txt", lines)), use_cache=False).info_json()
    assert info["lost_events"] == 123


@pytest.mark.parametrize(
    ("name", "body"),
    [("irq_handler_entry", "irq=11 name=virtio0"),
     ("mm_page_alloc", "page=000000002c7a0b8e pfn=0x1538f5 order=0 migratetype=1"),
     ("workqueue_execute_start", "work struct 00000000a7171951: function vmstat_update")],
)
def test_unknown_events_are_kept_and_counted(tmp_path: Path, name: str, body: str) -> None:
    lines = tracefs_trace()
    lines.insert(2, tracefs_line("kworker/0:1H", 42, T0 + 1.5, name, body))
    lines.insert(4, tracefs_line("kworker/0:1H", 42, T0 + 2.5, name, body))
    path = write_trace(tmp_path / "trace.txt", lines)
    events, _ = read_events(path)
    unknown = [event for event in events if event.name == name]
    assert len(unknown) == 2
    assert unknown[0].fields == {"raw": body}
    info = load_recording(str(path), use_cache=False).info_json()
    assert info["event_counts"][name] == 2
    assert info["unknown_events"] == 2
    assert info["events"] == sum(EXPECTED_EVENT_COUNTS.values()) + 2
    assert info["warnings"] == []
    assert {"faults": info["faults"], "mmap_lock": info["mmap_lock"]} == EXPECTED_COUNTS


def test_timestamps_keep_full_precision(tmp_path: Path) -> None:
    lines = [tracecmd_line("faultload", PID, 392_018_508.235, "page_fault_user", fault_body())]
    lines.append(lines[0].replace("392.018508235", "392.018508236"))
    events, _ = read_events(write_trace(tmp_path / "t.txt", lines, header="cpus=2\n"))
    assert [event.ts_ns for event in events] == [392_018_508_235, 392_018_508_236]


def test_out_of_order_timestamps_are_counted_in_a_warning(tmp_path: Path) -> None:
    lines = tracefs_trace()
    lines[5], lines[6] = lines[6], lines[5]  # two CPUs' buffers merged slightly out of order
    info = load_recording(str(write_trace(tmp_path / "t.txt", lines)), use_cache=False).info_json()
    assert info["events"] == sum(EXPECTED_EVENT_COUNTS.values())
    assert any("earlier" in warning or "order" in warning for warning in info["warnings"])


# --- the hand-written traces in tests/traces/ ----------------------------------------------

TRACES = Path(__file__).parent / "traces"
TYPICAL_INFO = {
    "events": 18,
    "lost_events": 12,
    "faults": {"total": 1, "threads": 1, "io_sleep": 1, "retry_mmap": 1, "mmap_fallback": 0,
               "vma_only": 0},
    "mmap_lock": {"acquisitions": {"read": 1, "write": 1}, "trylock_failed": 0,
                  "downgrades": 1},
}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("typical-major-fault.txt", "ftrace-text"),
     ("typical-major-fault.report.txt", "trace-cmd")],
)
def test_hand_written_typical_major_fault(name: str, fmt: str) -> None:
    """The same events in both text dialects give the same `info` (and the counter agrees)."""
    path = TRACES / name
    info = load_recording(str(path), use_cache=False).info_json()
    assert info["format"] == fmt
    assert {key: info[key] for key in TYPICAL_INFO} == TYPICAL_INFO
    assert info["event_counts"]["irq_handler_entry"] == info["unknown_events"] == 1
    assert info["event_counts"]["sys_enter_munmap"] == info["event_counts"]["sys_exit_munmap"] == 1
    assert info_contract_subset(info) == count_trace_text(path.read_text()).as_info()


@pytest.mark.parametrize("shape", ["crlf", "no final newline", "blank lines"])
def test_line_endings(tmp_path: Path, shape: str) -> None:
    text = (TRACES / "typical-major-fault.txt").read_text()
    if shape == "crlf":
        text = text.replace("\n", "\r\n")
    elif shape == "no final newline":
        text = text.rstrip("\n")
    else:
        text = text.replace("\n", "\n\n")
    path = tmp_path / "shaped.txt"
    path.write_bytes(text.encode())
    info = load_recording(str(path), use_cache=False).info_json()
    assert {key: info[key] for key in TYPICAL_INFO} == TYPICAL_INFO
    assert [warning for warning in info["warnings"] if "LOST" not in warning] == []


# --- property: any header shape round-trips through the line parser -------------------------

COMM_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 _-:/.<>+@=,#"
comms = st.text(COMM_ALPHABET, min_size=1, max_size=15).filter(
    lambda comm: comm == comm.strip() and not comm.startswith("#"))


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(comm=comms, pid=st.integers(1, 4_194_304), cpu=st.integers(0, 511),
       tgid=st.one_of(st.none(), st.integers(1, 4_194_304)),
       flags=st.sampled_from([None, "d..2.", "dNh1.", "....", "D.s3."]),
       seconds=st.integers(0, 9_999_999), micros=st.integers(0, 999_999),
       state=st.sampled_from(["D", "S", "R", "R+", "I", "D|K"]))
def test_any_header_round_trips(tmp_path: Path, comm: str, pid: int, cpu: int,
                                tgid: int | None, flags: str | None, seconds: int, micros: int,
                                state: str) -> None:
    ts_us = seconds * 1_000_000 + micros
    lines = [
        tracefs_line(comm, pid, ts_us, "page_fault_user", fault_body(), cpu=cpu, flags=flags,
                     tgid=tgid),
        tracefs_line(comm, pid, ts_us + 1, "sched_switch",
                     switch_body(comm, pid, state, "swapper/1", 0), cpu=cpu, flags=flags,
                     tgid=tgid),
    ]
    events, source = read_events(write_trace(tmp_path / "one.txt", lines))
    assert source.stats.warnings == []
    fault, switch = events
    assert (fault.comm, fault.tid, fault.cpu, fault.ts_ns) == (comm, pid, cpu, ts_us * 1000)
    assert fault.tgid == (tgid if tgid is not None else UNKNOWN_TGID)
    assert switch.fields["prev_comm"] == comm
    assert switch.fields["prev_pid"] == pid
    assert switch.fields["prev_state"] == state


@needs_trace_cmd()
def test_dat_and_its_report_text_give_the_same_info(tmp_path: Path) -> None:
    text = subprocess.run(["trace-cmd", "report", "-t", "-i", str(TC_8T_DAT)],
                          capture_output=True, check=True).stdout
    report = tmp_path / "tc-8t.report.txt.gz"
    report.write_bytes(gzip.compress(text, compresslevel=1))
    from_dat = load_recording(str(TC_8T_DAT), use_cache=False).info_json()
    from_text = load_recording(str(report), use_cache=False).info_json()
    keys = ("format", "events", "event_counts", "lost_events", "faults", "mmap_lock")
    assert {key: from_text[key] for key in keys} == {key: from_dat[key] for key in keys}


# --- clone / clone3: every dialect, and Perfetto -------------------------------------------

CHILD_PID = 0x1FEE
CLONE_CHILD_TIDPTR = 0x7F86E4A2BA10
# (dialect, clone body, clone3 body): clone_flags 0x1200011 is glibc's fork() (no CLONE_VM)
CLONE_BODIES = {
    # 6.18 print_syscall_enter: below 10 `%lu`, else `0x%lx`
    "tracefs": ("clone_flags: 0x1200011, newsp: 0, parent_tidptr: 0, "
                "child_tidptr: 0x7f86e4a2ba10, tls: 0", "uargs: 0x7ffd85919030, size: 0x58"),
    # before it: `%lx` without 0x
    "tracefs-lx": ("clone_flags: 1200011, newsp: 0, parent_tidptr: 0, "
                   "child_tidptr: 7f86e4a2ba10, tls: 0", "uargs: 7ffd85919030, size: 58"),
    # trace-cmd report: the format file's `0x%08lx`
    "trace-cmd": ("clone_flags: 0x01200011, newsp: 0x00000000, parent_tidptr: 0x00000000, "
                  "child_tidptr: 0x7f86e4a2ba10, tls: 0x00000000",
                  "uargs: 0x7ffd85919030, size: 0x00000058"),
}


def fork_events(dialect: str, syscall: str) -> list[tuple[str, int, int, float, str, str]]:
    """A fork by `syscall` (dup_mmap's write section inside) and the child's own return."""
    clone_body, clone3_body = CLONE_BODIES[dialect]
    return [
        ("faultload", WRITER, 1, T0, f"sys_enter_{syscall}",
         clone_body if syscall == "clone" else clone3_body),
        ("faultload", WRITER, 1, T0 + 1, "mmap_lock_start_locking", lock_body(True)),
        ("faultload", WRITER, 1, T0 + 2, "mmap_lock_acquire_returned", lock_body(True, True)),
        ("faultload", WRITER, 1, T0 + 40, "mmap_lock_released", lock_body(True)),
        ("faultload", WRITER, 1, T0 + 41, f"sys_exit_{syscall}", hex(CHILD_PID)),
        ("faultload", CHILD_PID, 0, T0 + 50, f"sys_exit_{syscall}", "0x0"),
        ("faultload", WRITER, 1, T0 + 60, "page_fault_user", fault_body()),
    ]


def fork_trace(tmp_path: Path, dialect: str, syscall: str) -> Path:
    events = fork_events(dialect, syscall)
    if dialect == "trace-cmd":
        lines = [tracecmd_line(comm, pid, ts, name, body, cpu=cpu)
                 for comm, pid, cpu, ts, name, body in events]
        return write_trace(tmp_path / f"{syscall}.txt", lines, header="cpus=2\n")
    lines = [tracefs_line(comm, pid, ts, name, body, cpu=cpu)
             for comm, pid, cpu, ts, name, body in events]
    return write_trace(tmp_path / f"{syscall}.txt", lines)


@pytest.mark.parametrize("syscall", ["clone", "clone3"])
@pytest.mark.parametrize("dialect", sorted(CLONE_BODIES))
def test_clone_in_every_dialect(tmp_path: Path, dialect: str, syscall: str) -> None:
    path = fork_trace(tmp_path, dialect, syscall)
    events, source = read_events(path)
    assert source.stats.warnings == [] and source.stats.unknown_events == 0
    assert source.stats.event_counts[f"sys_enter_{syscall}"] == 1
    assert source.stats.event_counts[f"sys_exit_{syscall}"] == 2  # the parent's and the child's
    enter = events[0]
    assert enter.name == f"sys_enter_{syscall}"
    if syscall == "clone":
        assert enter.fields == {"clone_flags": 0x1200011, "newsp": 0, "parent_tidptr": 0,
                                "child_tidptr": CLONE_CHILD_TIDPTR, "tls": 0}
    else:
        assert enter.fields == {"uargs": 0x7FFD85919030, "size": 0x58}
    assert [e.fields for e in events if e.name == f"sys_exit_{syscall}"] == [
        {"ret": CHILD_PID}, {"ret": 0}]
    recording = load_recording(str(path), use_cache=False)
    (fork,) = recording.timeline.writer_ops
    assert (fork.op, fork.tid, fork.ret, fork.latency_ns) == ("fork", WRITER, CHILD_PID, 41_000)
    assert (fork.mmap_write_wait_ns, fork.mmap_write_hold_ns) == (1_000, 38_000)
    assert recording.info_json()["writers"] == {"ops": 1}


def test_raw_syscalls_clone_in_perfetto_are_named_with_their_flags() -> None:
    bundle = pb.FtraceEventBundle(cpu=0)
    for ts, number, args in ((1, 56, [0x1200011, 0, 0, CLONE_CHILD_TIDPTR, 0, 0]),
                             (3, 435, [0x7FFD85919030, 0x58, 0, 0, 0, 0])):
        enter = bundle.event.add(timestamp=ts, pid=WRITER).sys_enter
        enter.id, enter.args[:] = number, args
        exit_ = bundle.event.add(timestamp=ts + 1, pid=WRITER).sys_exit
        exit_.id, exit_.ret = number, CHILD_PID
    data = trace_record(len_field(1, bundle.SerializeToString()))
    events = list(read_perfetto("t.pftrace", io.BytesIO(data), ImportStats(path="t.pftrace")))
    assert [(e.name, e.fields) for e in events] == [
        ("sys_enter_clone", {"clone_flags": 0x1200011, "newsp": 0, "parent_tidptr": 0,
                             "child_tidptr": CLONE_CHILD_TIDPTR, "tls": 0}),
        ("sys_exit_clone", {"ret": CHILD_PID}),
        ("sys_enter_clone3", {"uargs": 0x7FFD85919030, "size": 0x58}),
        ("sys_exit_clone3", {"ret": CHILD_PID}),
    ]


@pytest.mark.parametrize("syscall", ["clone", "clone3"])
def test_perfetto_syscalls_events_give_the_same_fork(tmp_path: Path, syscall: str) -> None:
    """`syscalls:sys_enter_clone` as Perfetto generic events (every encoding) = the text."""
    text = fork_trace(tmp_path, "tracefs", syscall)
    expected = load_recording(str(text), use_cache=False).timeline.writer_ops
    for flavour in sorted(FLAVOURS):
        out = tmp_path / f"{syscall}-{flavour}.pftrace"
        convert_text_trace(str(text), str(out), FLAVOURS[flavour])
        recording = load_recording(str(out), use_cache=False)
        assert recording.stats.unknown_events == 0, flavour
        assert recording.timeline.writer_ops == expected, flavour
