"""`faulttui record` logic against a fake tracefs (a plain directory): no root needed.

Covers saving and restoring tracefs settings (also after errors), the kernel-pitfall guards
around options/record-tgid, missing events, the event/buffer plan, the memory-cgroup
filter, the merged output file, the gated fork of the command and the CLI's usage errors
and exit codes.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faulttui.capture.events import RECORDED_EVENTS, Buffer, TraceEvent, split_available
from faulttui.capture.memcg import MemoryCgroup, find_memory_cgroup, mmap_lock_filter
from faulttui.capture.mount import NEEDS_ROOT, access_problem, locate_tracefs
from faulttui.capture.output import Duplicates, OutputFile, copy_trace, tids_firing
from faulttui.capture.plan import make_plan
from faulttui.capture.proc import MapsSnapshot, maps_comment_lines
from faulttui.capture.recorder import RecordRequest, record
from faulttui.capture.session import (
    configure_buffer,
    enable_events,
    filter_to_pids,
    lost_events,
)
from faulttui.capture.state import preserved, restore_settings, save_settings
from faulttui.capture.target import ExecFailed, SignalGate, fork_gated, open_gate, wait_command
from faulttui.capture.tracefs import (
    TraceFs,
    TraceFsError,
    effective_buffer_kb,
    enabled_event_names,
    selected_clock,
)
from faulttui.cli.record import parse_duration
from faulttui.errors import FaultTuiError

REPO_ROOT = Path(__file__).resolve().parent.parent
OTHER_EVENT = ("sched", "sched_process_exec")  # enabled by "someone else" in the fakes
MMAP_LOCK_FORMAT = (
    "name: mmap_lock_start_locking\n"
    "\tfield:u64 memcg_id;\toffset:16;\tsize:8;\tsigned:0;\n"
    'print fmt: "mm=%p memcg_id=%llu write=%s"\n'
)


def make_fake_tracefs(root: Path, *, lacking: tuple[str, ...] = (), instances: bool = True,
                      cpus: int = 2) -> Path:
    """A directory with the tracefs files `faulttui record` touches, in a fresh-boot state."""
    files = {
        "trace": "",
        "tracing_on": "1\n",
        "current_tracer": "nop\n",
        "trace_clock": "[local] global counter uptime perf mono mono_raw boot tai x86-tsc\n",
        "buffer_size_kb": "7 (expanded: 1408)\n",
        "set_event": "",
        "set_event_pid": "",
        "options/record-tgid": "0\n",
        "options/event-fork": "0\n",
    }
    for cpu in range(cpus):
        files[f"per_cpu/cpu{cpu}/stats"] = (
            "entries: 10\noverrun: 0\ncommit overrun: 0\nbytes: 640\n"
            "oldest event ts: 1.000000\nnow ts: 2.000000\ndropped events: 0\nread events: 0\n"
        )
        files[f"per_cpu/cpu{cpu}/buffer_size_kb"] = "1408\n"
    for group, name in [(e.group, e.name) for e in RECORDED_EVENTS] + [OTHER_EVENT]:
        if f"{group}:{name}" in lacking:
            continue
        files[f"events/{group}/{name}/enable"] = "0\n"
        files[f"events/{group}/{name}/filter"] = "none\n"
        if group == "mmap_lock":
            files[f"events/{group}/{name}/format"] = MMAP_LOCK_FORMAT
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if instances:
        (root / "instances").mkdir()
    return root


class FakeKernel(TraceFs):
    """A fake tracefs with the kernel behaviours the logic depends on: the selected trace
    clock shows in brackets, an instance comes with its own files (and goes with them), and
    stopping tracing leaves `trace_text` in the buffer (and `lost` overruns on CPU 0)."""

    def __init__(self, root: str, trace_text: bytes = b"", instance_trace_text: bytes = b"",
                 lost: int = 0) -> None:
        super().__init__(root)
        self.trace_text = trace_text
        self.instance_trace_text = instance_trace_text
        self.lost = lost

    def write(self, name: str, value: str) -> None:
        if name == "tracing_on" and value == "0" and self.read(name).strip() == "1" and self.trace_text:
            Path(self.path("trace")).write_bytes(self.trace_text)
            Path(self.path("per_cpu/cpu0/stats")).write_text(f"entries: 9\noverrun: {self.lost}\n")
        if name == "trace_clock":
            clocks = [c.strip("[]") for c in self.read(name).split()]
            if value not in clocks:
                raise TraceFsError("cannot write: Invalid argument", path=self.path(name))
            value = " ".join(f"[{c}]" if c == value else c for c in clocks) + "\n"
        super().write(name, value)

    def make_instance(self, name: str) -> TraceFs:
        instance = super().make_instance(name)
        make_fake_tracefs(Path(instance.root), instances=False)
        Path(instance.root, "options/record-tgid").write_text(self.read("options/record-tgid"))
        Path(instance.root, "tracing_on").write_text("1\n")
        return FakeKernel(instance.root, self.instance_trace_text)

    def remove_instance(self, name: str) -> None:
        shutil.rmtree(self.path(f"instances/{name}"))


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (what a restoration test compares). Whitespace is normalized:
    the kernel prints "0\n" and one pid per line where a plain file keeps what was written."""
    return {str(path.relative_to(root)): " ".join(path.read_text().split())
            for path in sorted(root.rglob("*")) if path.is_file()}


def dirty_state(root: Path) -> None:
    """A non-default starting point: someone else is tracing with their own settings."""
    (root / "tracing_on").write_text("1\n")
    (root / "current_tracer").write_text("function\n")
    (root / "trace_clock").write_text("local [global] counter uptime perf mono\n")
    (root / "set_event_pid").write_text("42\n4242\n")
    (root / "options/event-fork").write_text("1\n")
    (root / "set_event").write_text("sched:sched_process_exec\nsched:sched_switch\n")
    (root / "events/sched/sched_process_exec/enable").write_text("1\n")
    (root / "events/sched/sched_switch/enable").write_text("1\n")


class Notes:
    """A Reporter that keeps what it was told."""

    def __init__(self) -> None:
        self.statuses: list[str] = []
        self.warnings: list[str] = []

    def status(self, message: str) -> None:
        self.statuses.append(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def progress(self, text_bytes: int) -> None:
        return None


# ---------------------------------------------------------------- parsing helpers


def test_tracefs_value_parsers() -> None:
    assert selected_clock("[local] global mono\n") == "local"
    assert selected_clock("local global [mono]") == "mono"
    assert effective_buffer_kb("7 (expanded: 1408)\n") == "1408"
    assert effective_buffer_kb("65536\n") == "65536"
    assert effective_buffer_kb("X\n") == "X"
    assert enabled_event_names("sched:sched_switch\nlock:contention_begin*\n\n") == [
        "sched:sched_switch", "lock:contention_begin"]


def test_parse_duration() -> None:
    assert parse_duration("10s") == 10.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2m") == 120.0
    assert parse_duration("1.5") == 1.5
    for bad in ("", "0s", "ten", "1x", "-1s"):
        with pytest.raises(FaultTuiError):
            parse_duration(bad)


# ---------------------------------------------------------------- save / restore


def test_preserved_restores_every_setting(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    dirty_state(root)
    before = snapshot(root)
    tracefs = FakeKernel(str(root))
    ours = [event.enable_file for event in RECORDED_EVENTS]
    with preserved(tracefs, ours):
        setup = configure_buffer(tracefs, 4096)
        enable_events(tracefs, RECORDED_EVENTS)
        filter_to_pids(tracefs, [1234])
        tracefs.write("tracing_on", "1")
        assert setup.clock == "mono"
        assert tracefs.read("events/exceptions/page_fault_user/enable") == "1"
        assert tracefs.read("events/sched/sched_process_exec/enable") == "0"  # someone else's
        assert tracefs.read("current_tracer") == "nop"
        assert tracefs.read("buffer_size_kb") == "4096"
        assert tracefs.read("options/record-tgid") == "1"
        assert tracefs.read("set_event_pid") == "1234"
    after = snapshot(root)
    changed = {name for name in before if before[name] != after[name]}
    # the buffer is emptied (not restored) and the unexpanded size comes back expanded
    assert changed == {"buffer_size_kb"}
    assert after["buffer_size_kb"] == "1408"
    assert after["trace"] == ""


def test_restores_after_an_error_in_the_body(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    dirty_state(root)
    before = snapshot(root)
    tracefs = FakeKernel(str(root))
    with pytest.raises(FaultTuiError, match="boom"), preserved(tracefs, ["events/sched/sched_switch/enable"]):
        configure_buffer(tracefs, 1024)
        raise FaultTuiError("boom")
    assert {n for n in before if before[n] != snapshot(root)[n]} == {"buffer_size_kb"}


def test_restore_keeps_going_and_reports_what_failed(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    tracefs = TraceFs(str(root))
    saved = save_settings(tracefs, ["events/sched/sched_switch/enable"])
    (root / "options/event-fork").unlink()  # vanishes under us
    (root / "current_tracer").write_text("function\n")
    problems = restore_settings(tracefs, saved)
    assert len(problems) == 1 and "options/event-fork" in problems[0]
    assert (root / "current_tracer").read_text() == "nop"  # later steps still ran
    assert (root / "tracing_on").read_text() == "1"


def test_per_cpu_buffer_sizes_are_restored_one_by_one(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    (root / "buffer_size_kb").write_text("X\n")
    (root / "per_cpu/cpu1/buffer_size_kb").write_text("2048\n")
    tracefs = TraceFs(str(root))
    with preserved(tracefs, []):
        configure_buffer(tracefs, 8192)
    assert (root / "per_cpu/cpu0/buffer_size_kb").read_text() == "1408"
    assert (root / "per_cpu/cpu1/buffer_size_kb").read_text() == "2048"


def test_record_tgid_is_not_flipped_while_another_instance_has_events(tmp_path: Path) -> None:
    # Flipping record-tgid walks every enabled event of every instance and corrupts the
    # kernel's sched_tgid_ref when those events were enabled under the other value.
    root = make_fake_tracefs(tmp_path / "t")
    other = root / "instances/perf-tool"
    other.mkdir()
    (other / "set_event").write_text("block:block_rq_issue\n")
    tracefs = TraceFs(str(root))
    with preserved(tracefs, []):
        setup = configure_buffer(tracefs, 1024)
        assert tracefs.read("options/record-tgid").strip() == "0"
    assert any("record-tgid" in warning and "perf-tool" in warning for warning in setup.warnings)

    (other / "set_event").write_text("")
    with pytest.raises(TraceFsError, match="left options/record-tgid on"), preserved(tracefs, []):
        configure_buffer(tracefs, 1024)
        assert tracefs.read("options/record-tgid") == "1"
        (other / "set_event").write_text("sched:sched_switch\n")  # someone started meanwhile
    assert tracefs.read("options/record-tgid") == "1"


def test_without_the_mono_clock_the_maps_times_are_approximate(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    (root / "trace_clock").write_text("[local] global counter\n")
    setup = configure_buffer(FakeKernel(str(root)), 1024)
    assert setup.clock == "local" and "approximate" in setup.warnings[0]


def test_lost_events_from_per_cpu_stats(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    (root / "per_cpu/cpu1/stats").write_text(
        "entries: 5\noverrun: 120\ncommit overrun: 3\nbytes: 1\ndropped events: 7\n")
    assert lost_events(TraceFs(str(root))) == {0: 0, 1: 130}


# ---------------------------------------------------------------- events and plan


def test_missing_events_are_listed_and_the_rest_recorded(tmp_path: Path) -> None:
    lacking = ("syscalls:sys_enter_brk", "syscalls:sys_exit_brk", "lock:contention_begin")
    tracefs = TraceFs(str(make_fake_tracefs(tmp_path / "t", lacking=lacking)))
    present, missing = split_available(tracefs, RECORDED_EVENTS)
    assert {event.spec for event in missing} == set(lacking)
    assert len(present) == len(RECORDED_EVENTS) - len(lacking)
    notes = Notes()
    plan = make_plan(tracefs, system_wide=False, strict=False, pid=os.getpid(), reporter=notes)
    assert plan.missing == tuple(event.spec for event in missing)
    assert len(notes.warnings) >= 1 and all(name in notes.warnings[0] for name in lacking)
    with pytest.raises(TraceFsError, match="syscalls:sys_enter_brk"):
        make_plan(tracefs, system_wide=False, strict=True, pid=None, reporter=Notes())


def test_an_arch_without_sys_fork_records_without_a_warning(tmp_path: Path) -> None:
    """arm64 has no sys_fork or sys_vfork (fork() is clone there): not a missing event."""
    lacking = tuple(f"syscalls:sys_{edge}_{call}" for edge in ("enter", "exit")
                    for call in ("fork", "vfork"))
    tracefs = TraceFs(str(make_fake_tracefs(tmp_path / "t", lacking=lacking)))
    present, missing = split_available(tracefs, RECORDED_EVENTS)
    assert missing == () and not {event.spec for event in present} & set(lacking)
    notes = Notes()
    plan = make_plan(tracefs, system_wide=False, strict=True, pid=os.getpid(), reporter=notes)
    assert plan.missing == () and notes.warnings == []


def test_kernel_without_any_event_is_an_error(tmp_path: Path) -> None:
    lacking = tuple(event.spec for event in RECORDED_EVENTS)
    tracefs = TraceFs(str(make_fake_tracefs(tmp_path / "t", lacking=lacking)))
    with pytest.raises(TraceFsError, match="none of the events"):
        make_plan(tracefs, system_wide=False, strict=False, pid=None, reporter=Notes())


def test_plan_splits_events_that_happen_in_other_tasks_context(tmp_path: Path) -> None:
    tracefs = TraceFs(str(make_fake_tracefs(tmp_path / "t")))
    plan = make_plan(tracefs, system_wide=False, strict=False, pid=None, reporter=Notes())
    unfiltered = {event.name for event in plan.in_buffer(Buffer.SYSTEM)}
    assert {"block_rq_complete", "block_rq_issue", "mm_filemap_delete_from_page_cache"} <= unfiltered
    assert {"page_fault_user", "sched_switch", "sched_waking"}.isdisjoint(unfiltered)
    if plan.filters:  # this machine's cgroup was found: mmap_lock narrowed to it
        assert set(plan.filters) == {e.spec for e in plan.events if e.group == "mmap_lock"}
        assert all(expr.startswith("memcg_id == ") for expr in plan.filters.values())
    everything = make_plan(tracefs, system_wide=True, strict=False, pid=None, reporter=Notes())
    assert not everything.split and not everything.in_buffer(Buffer.SYSTEM)


def test_plan_without_instances_falls_back_to_one_unfiltered_buffer(tmp_path: Path) -> None:
    tracefs = TraceFs(str(make_fake_tracefs(tmp_path / "t", instances=False)))
    notes = Notes()
    plan = make_plan(tracefs, system_wide=False, strict=False, pid=None, reporter=notes)
    assert not plan.split and len(plan.in_buffer(Buffer.PROCESS)) == len(RECORDED_EVENTS)
    assert any("no tracing instances" in warning for warning in notes.warnings)


def test_memory_cgroup_lookup_and_filter(tmp_path: Path) -> None:
    mounts = ["cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0",
              "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0",
              "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0"]
    v1 = find_memory_cgroup(["4:memory:/ft/x", "1:cpu:/", "0::/"], mounts)
    assert v1 == MemoryCgroup("/ft/x", "/sys/fs/cgroup/memory/ft/x")
    v2 = find_memory_cgroup(["0::/user.slice/ft"], ["cgroup2 /sys/fs/cgroup cgroup2 rw 0 0"])
    assert v2 == MemoryCgroup("/user.slice/ft", "/sys/fs/cgroup/user.slice/ft")
    assert find_memory_cgroup(["0::/x"], ["proc /proc proc rw 0 0"]) is None
    directory = tmp_path / "memcg"
    directory.mkdir()
    cgroup = MemoryCgroup("/ft", str(directory))
    assert mmap_lock_filter(MMAP_LOCK_FORMAT, cgroup) == f"memcg_id == {directory.stat().st_ino}"
    old_format = "\tfield:__data_loc char[] memcg_path;\toffset:16;\n"
    assert mmap_lock_filter(old_format, cgroup) == 'memcg_path == "/ft"'
    assert mmap_lock_filter("\tfield:void * mm;\n", cgroup) is None


def test_enable_events_sets_our_filters_only(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    (root / "events/block/block_rq_issue/filter").write_text("bytes > 4096\n")
    events = (TraceEvent("mmap_lock", "mmap_lock_released", Buffer.SYSTEM),
              TraceEvent("block", "block_rq_issue", Buffer.SYSTEM))
    warnings = enable_events(TraceFs(str(root)), events, {"mmap_lock:mmap_lock_released": "memcg_id == 7"})
    assert (root / "events/mmap_lock/mmap_lock_released/filter").read_text() == "memcg_id == 7"
    assert (root / "events/block/block_rq_issue/filter").read_text() == "bytes > 4096\n"
    assert warnings == ["block:block_rq_issue has a filter set by someone else (bytes > 4096); kept"]


# ---------------------------------------------------------------- access and mounting


def test_access_rules() -> None:
    assert access_problem(0, False) is None
    assert access_problem(1000, True) is None
    assert access_problem(1000, False) == NEEDS_ROOT


def test_explicit_tracefs_directory(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    assert locate_tracefs(str(root), euid=1000).tracefs.root == str(root)
    with pytest.raises(TraceFsError, match="not a tracefs directory"):
        locate_tracefs(str(tmp_path), euid=0)


# ---------------------------------------------------------------- output file


MAIN_TRACE = b"""# tracer: nop
#
#           TASK-PID       TGID    CPU#  |||||  TIMESTAMP  FUNCTION
       faultload-11  (     10) [000] d....   100.000001: page_fault_user: address=0x1 ip=0x2 error_code=0x4
       faultload-11  (     10) [000] .....   100.000001: mmap_lock_start_locking: mm=00000000deadbeef memcg_id=7 write=false
       faultload-11  (     10) [000] .....   100.000002: block_rq_issue: 254,0 R 4096 () 8 + 8 be,0,4 [faultload]
CPU:1 [LOST 5 EVENTS]
       faultload-11  (     10) [000] d..2.   100.000003: sched_switch: prev_comm=faultload prev_pid=11 prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120
          <idle>-0   (-------) [000] d..2.   100.000010: sched_waking: comm=faultload pid=11 prio=120 target_cpu=000
       faultload-11  (     10) [000] .....   100.000012: sys_mprotect(start: 7f00, len: 1000, prot: 1)
"""
# the unfiltered buffer: copies of the target's (tid 11) events, and other tasks' events
SIDE_TRACE = b"""# tracer: nop
#
#           TASK-PID       TGID    CPU#  |||||  TIMESTAMP  FUNCTION
       faultload-11  (     10) [000] .....   100.000001: mmap_lock_start_locking: mm=00000000deadbeef memcg_id=7 write=false
      khugepaged-35  (     35) [001] .....   100.000001: mmap_lock_start_locking: mm=00000000deadbeef memcg_id=7 write=true
       faultload-11  (     10) [000] .....   100.000003: block_rq_issue: 254,0 R 4096 () 8 + 8 be,0,4 [faultload]
 kworker/1:1H-44     (     44) [001] .....   100.000004: block_rq_issue: 254,0 R 4096 () 16 + 8 be,0,4 [kworker/1:1H]
          <idle>-0   (-------) [001] ..s1.   100.000010: block_rq_complete: 254,0 R () 8 + 8 be,0,4 [0]
"""
DUPLICATED = frozenset({b"mmap_lock_start_locking", b"block_rq_issue"})
MERGED = [  # (task, event): the target's events from the main buffer, in kernel order
    ("khugepaged-35", "mmap_lock_start_locking"),  # same µs as the fault: unfiltered first
    ("faultload-11", "page_fault_user"),
    ("faultload-11", "mmap_lock_start_locking"),
    ("faultload-11", "block_rq_issue"),
    ("faultload-11", "sched_switch"),
    ("kworker/1:1H-44", "block_rq_issue"),
    ("<idle>-0", "block_rq_complete"),  # the completion wakes the waiter: goes first
    ("<idle>-0", "sched_waking"),
    ("faultload-11", "sys_mprotect"),
]


def merged_events(lines: list[str]) -> list[tuple[str, str]]:
    return [(line.split()[0], re.split(r"[:(]", line.split(": ", 1)[1])[0]) for line in lines
            if not line.startswith(("#", "CPU:"))]


@pytest.mark.parametrize("name", ["out.txt", "out.txt.gz", "out.txt.xz"])
def test_output_merges_buffers_by_time(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    out = OutputFile(str(path))
    out.write_text(["# faulttui-record: version=x\n"])
    out.write_text(maps_comment_lines(MapsSnapshot(11, 99, ("7f00-7f01 r--p 0 fe:00 1 /bin/x",))))
    duplicates = Duplicates(DUPLICATED, tids_firing(io.BytesIO(MAIN_TRACE), DUPLICATED))
    assert duplicates.tids == {11}
    stats = copy_trace(out, io.BytesIO(MAIN_TRACE), io.BytesIO(SIDE_TRACE), lambda: False,
                       overrun_by_cpu={0: 0, 1: 3}, duplicates=duplicates)
    size = out.commit()
    opener = {"gz": gzip.open, "xz": lzma.open}.get(name.rsplit(".", 1)[-1], open)
    with opener(path, "rb") as file:
        lines = file.read().decode().splitlines()
    assert size == path.stat().st_size and not list(tmp_path.glob(".*partial*"))
    assert lines[0] == "# faulttui-record: version=x"
    assert lines[1] == "# faulttui-maps pid=11 ts_ns=99: 7f00-7f01 r--p 0 fe:00 1 /bin/x"
    assert lines[2] == "# tracer: nop" and sum(line == "# tracer: nop" for line in lines) == 1
    assert lines[5] == "CPU:1 [LOST 3 EVENTS]"  # overwritten at the start: from the stats
    assert merged_events(lines) == MERGED
    assert lines.index("CPU:1 [LOST 5 EVENTS]") == lines.index(next(
        line for line in lines if "sched_switch" in line)) - 1  # kept in front of its event
    assert stats.events == len(MERGED) and stats.lost_in_markers == 5
    assert stats.event_counts["sys_mprotect"] == 1 and stats.event_counts["block_rq_issue"] == 2


def test_discarded_output_leaves_nothing(tmp_path: Path) -> None:
    for name in ("a.txt", "a.txt.gz", "a.txt.xz"):
        out = OutputFile(str(tmp_path / name))
        out.write_text(["x" * 100000])
        out.discard()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FaultTuiError, match="no such directory"):
        OutputFile(str(tmp_path / "missing" / "a.txt"))
    with pytest.raises(FaultTuiError, match="is a directory"):
        OutputFile(str(tmp_path))


# ---------------------------------------------------------------- the gated command


def test_gated_command_runs_only_after_the_gate_opens(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with SignalGate() as gate:
        child = fork_gated("/bin/sh", ["sh", "-c", f"touch {marker}; exit 3"], gate)
        time.sleep(0.1)
        assert not marker.exists()
        open_gate(child)
        ended = wait_command(child.pid, gate, lambda: None, 0.05, lambda message: None)
    assert marker.exists() and os.waitstatus_to_exitcode(ended.wait_status) == 3
    assert ended.stop_signal is None


def test_exec_failure_is_reported_after_the_gate() -> None:
    with SignalGate() as gate:
        child = fork_gated("/nonexistent/program", ["program"], gate)
        with pytest.raises(ExecFailed) as failed:
            open_gate(child)
    assert failed.value.errno == 2


def test_stop_signal_sent_to_faulttui_is_forwarded_to_the_command() -> None:
    notes: list[str] = []
    with SignalGate() as gate:
        child = fork_gated("/bin/sleep", ["sleep", "30"], gate)
        open_gate(child)
        os.kill(os.getpid(), signal.SIGTERM)  # kill(): si_code SI_USER, so it is forwarded
        started = time.monotonic()
        ended = wait_command(child.pid, gate, lambda: None, 0.05, notes.append)
    assert time.monotonic() - started < 5
    assert os.WIFSIGNALED(ended.wait_status) and os.WTERMSIG(ended.wait_status) == signal.SIGTERM
    assert ended.stop_signal == signal.SIGTERM and "stopping the command" in notes[0]


# ---------------------------------------------------------------- the command line


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faulttui", "record", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    ((), "nothing to record"),
    (("--pid", "1", "--", "true"), "either CMD or --pid"),
    (("--duration", "1s", "--", "true"), "--duration goes with --pid"),
    (("--", "no-such-command-xyz"), "command not found: no-such-command-xyz"),
    (("--pid", "999999999"), "no process with pid 999999999"),
])
def test_usage_errors_exit_2_without_touching_tracefs(tmp_path: Path, args: tuple[str, ...],
                                                      message: str) -> None:
    root = make_fake_tracefs(tmp_path / "t")
    before = snapshot(root)
    result = run_cli("-o", str(tmp_path / "o.txt"), "--tracefs", str(root), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert snapshot(root) == before and not (tmp_path / "o.txt").exists()


def test_cli_records_against_a_fake_tracefs_and_restores_it(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t", instances=False,
                             lacking=("syscalls:sys_enter_mremap", "syscalls:sys_exit_mremap"))
    dirty_state(root)
    before = snapshot(root)
    out = tmp_path / "o.txt"
    result = run_cli("-o", str(out), "--tracefs", str(root), "--", "sh", "-c", "exit 3")
    assert result.returncode == 0, result.stderr
    assert "exited with status 3" in result.stderr and "faulttui open" in result.stderr
    assert "lacks syscalls:sys_enter_mremap, syscalls:sys_exit_mremap" in result.stderr
    text = out.read_text().splitlines()
    assert text[0].startswith("# faulttui-record: version=") and "cmd='sh -c '\"'\"'exit 3" in text[0]
    assert text[-1].startswith("# faulttui-record-end: ") and "cmd_status=exit:3" in text[-1]
    after = snapshot(root)
    assert {n for n in before if before[n] != after[n]} == {"buffer_size_kb", "trace_clock"}
    assert selected_clock(after["trace_clock"]) == "global"  # a plain file: no brackets


def test_cli_interrupt_saves_restores_and_exits_130(tmp_path: Path) -> None:
    root = make_fake_tracefs(tmp_path / "t", instances=False)
    before = snapshot(root)
    out = tmp_path / "o.txt"
    process = subprocess.Popen(
        [sys.executable, "-m", "faulttui", "record", "-o", str(out), "--tracefs", str(root),
         "--", "sleep", "30"], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    while "recording `sleep 30`" not in (line := process.stderr.readline()):
        assert line, "faulttui record ended before recording"
    process.send_signal(signal.SIGINT)
    stderr = process.stderr.read()
    assert process.wait(timeout=20) == 130, stderr
    assert "interrupted" in stderr and "killed by SIGINT" in stderr
    assert "cmd_status=signal:SIGINT" in out.read_text().splitlines()[-1]
    after = snapshot(root)
    assert {n for n in before if before[n] != after[n]} <= {"buffer_size_kb", "trace_clock"}


# ---------------------------------------------------------------- whole recordings


def test_full_recording_on_a_fake_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memcg = tmp_path / "memcg"
    memcg.mkdir()
    monkeypatch.setattr("faulttui.capture.plan.memory_cgroup_of",
                        lambda pid: MemoryCgroup("/ft", str(memcg)))
    root = make_fake_tracefs(tmp_path / "t")
    dirty_state(root)
    before = snapshot(root)
    (root / "instances/faulttui-record-999999999").mkdir()  # left by a SIGKILLed recording
    tracefs = FakeKernel(str(root), MAIN_TRACE, SIDE_TRACE, lost=17)
    notes = Notes()
    out = tmp_path / "o.txt.xz"
    result = record(RecordRequest(str(out), command=("sh", "-c", "exit 0"), buffer_kb=2048),
                    notes, tracefs=tracefs)
    assert any("faulttui-record-999999999" in warning for warning in notes.warnings)
    assert not list((root / "instances").iterdir())  # stale one and our own both gone
    after = snapshot(root)
    assert {n for n in before if before[n] != after[n]} == {"buffer_size_kb", "trace", "per_cpu/cpu0/stats"}
    assert result.text.events == len(MERGED) and result.lost_events == 17 and result.wait_status == 0
    lines = lzma.decompress(out.read_bytes()).decode().splitlines()
    assert lines[0].startswith("# faulttui-record: ") and f"pid={result.pid} mode=command" in lines[0]
    assert f"mmap_lock_filter='memcg_id == {memcg.stat().st_ino}'" in lines[0]
    assert "unfiltered=mmap_lock_start_locking," in lines[0] and "scope=process" in lines[0]
    assert merged_events(lines) == MERGED
    assert lines[-1].startswith(f"# faulttui-record-end: events={len(MERGED)} lost_events=17 "
                                "cmd_status=exit:0")
    # overwritten events leave no marker in `trace`: the recorder writes the kernel's count
    first_event = min(i for i, line in enumerate(lines) if "block_rq_issue:" in line)
    assert lines.index("CPU:0 [LOST 17 EVENTS]") < first_event


def test_an_error_while_setting_up_still_restores(tmp_path: Path) -> None:
    # A plain directory as tracefs: our new instance comes up empty, so configuring it fails.
    root = make_fake_tracefs(tmp_path / "t")
    dirty_state(root)
    before = snapshot(root)
    result = run_cli("-o", str(tmp_path / "o.txt"), "--tracefs", str(root), "--", "true")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "faulttui-record-" in result.stderr and "No such file or directory" in result.stderr
    assert not list((root / "instances").iterdir()) and not list(tmp_path.glob("*.txt"))
    after = snapshot(root)
    assert {n for n in before if before[n] != after[n]} <= {"buffer_size_kb", "trace_clock", "trace"}
    assert selected_clock(after["trace_clock"]) == "global"
