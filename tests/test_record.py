"""`faulttui record` on the real kernel: needs root and a writable tracefs (marker `tracefs`).

Records a small multi-threaded workload (tests/data/faultload.c, compiled here) and a
running process, proves that tracefs is left exactly as it was found after a success, a
failing command, a missing command and Ctrl-C, and that the kernel's comm/tgid recording
refcounts survive a recording. Each recording takes well under a second.
"""

from __future__ import annotations

import ctypes
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from faulttui.capture.events import RECORDED_EVENTS

pytestmark = pytest.mark.tracefs

REPO_ROOT = Path(__file__).resolve().parent.parent
FAULTLOAD_C = Path(__file__).resolve().parent / "data" / "faultload.c"
TRACEFS = Path("/sys/kernel/tracing")
FOREIGN_EVENT = "sched/sched_process_exec"  # "someone else's" event in the foreign state
# `   faultload-123   (    120) [001] d....  1461.533961: page_fault_user: ...`
EVENT_LINE = re.compile(r"^\s*(.+)-(\d+)\s+\(\s*(\d+|-+)\)\s+\[\d+\]\s+\S+\s+\d+\.\d+: (\w+)")


def _cannot_record() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not TRACEFS.is_dir():
        return f"no {TRACEFS} (kernel without tracefs)"
    return None


_CANNOT = _cannot_record()
if _CANNOT is not None:
    pytest.skip(f"real-kernel recording tests: {_CANNOT}", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def live_tracefs() -> Iterator[Path]:
    """tracefs mounted for these tests (and unmounted after them if it was not before)."""
    mounted_here = False
    if not (TRACEFS / "tracing_on").exists():
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"nodev", str(TRACEFS).encode(), b"tracefs", 0, None) != 0:
            pytest.skip(f"cannot mount tracefs: {os.strerror(ctypes.get_errno())}")
        mounted_here = True
    if not os.access(TRACEFS / "tracing_on", os.W_OK):
        pytest.skip("tracefs is not writable")
    yield TRACEFS
    if mounted_here:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.umount2(str(TRACEFS).encode(), 0) != 0:
            warnings.warn(f"could not unmount {TRACEFS} again: {os.strerror(ctypes.get_errno())}",
                          stacklevel=1)


def read(name: str) -> str:
    return (TRACEFS / name).read_text()


def write(name: str, value: str) -> None:
    fd = os.open(TRACEFS / name, os.O_WRONLY | os.O_TRUNC)
    try:
        if value:
            os.write(fd, value.encode())
    finally:
        os.close(fd)


def tracefs_state() -> dict[str, str]:
    """The files `faulttui record` may touch, verbatim."""
    names = ["tracing_on", "current_tracer", "trace_clock", "buffer_size_kb",
             "options/record-tgid", "options/event-fork", "options/record-cmd",
             "set_event", "set_event_pid", "set_event_notrace_pid", f"events/{FOREIGN_EVENT}/enable"]
    names += [f"per_cpu/{cpu}/buffer_size_kb" for cpu in sorted(os.listdir(TRACEFS / "per_cpu"))]
    for event in RECORDED_EVENTS:
        names += [event.enable_file, event.filter_file]
    state = {name: read(name) for name in names if (TRACEFS / name).exists()}
    state["instances/"] = " ".join(sorted(os.listdir(TRACEFS / "instances")))
    return state


def run_record(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "faulttui", "record", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def faultload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is missing: cannot build the faultload workload")
    binary = tmp_path_factory.mktemp("faultload") / "faultload"
    subprocess.run([gcc, "-O2", "-pthread", "-o", str(binary), str(FAULTLOAD_C)], check=True)
    return binary


@pytest.fixture()
def cold_file(tmp_path: Path) -> Path:
    """8 MB of file data, out of the page cache (faults on it are major: I/O, retries)."""
    path = tmp_path / "data.bin"
    with open(path, "wb") as file:
        file.write(os.urandom(8 << 20))
        file.flush()
        os.fsync(file.fileno())
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return path


@pytest.fixture()
def foreign_state() -> Iterator[dict[str, str]]:
    """Someone else is tracing: own clock, size, pid filter, an event of theirs and one of
    ours already enabled. Yields the state; puts the original back afterwards."""
    original = tracefs_state()
    writes = [("tracing_on", "0"), ("trace_clock", "global"), ("buffer_size_kb", "2048"),
              ("set_event_pid", str(os.getpid())), (f"events/{FOREIGN_EVENT}/enable", "1"),
              ("events/sched/sched_switch/enable", "1"), ("tracing_on", "1")]
    try:
        for name, value in writes:
            write(name, value)
        yield tracefs_state()
    finally:
        write("tracing_on", "0")
        for name in (f"events/{FOREIGN_EVENT}/enable", "events/sched/sched_switch/enable"):
            write(name, original[name].strip()[:1])
        write("set_event_pid", " ".join(original["set_event_pid"].split()))
        write("trace_clock", re.search(r"\[(\S+)\]", original["trace_clock"]).group(1))  # type: ignore[union-attr]
        write("buffer_size_kb", re.sub(r"^\s*\d+\s*\(expanded:\s*(\d+)\)\s*$", r"\1",
                                       original["buffer_size_kb"]).strip())
        write("tracing_on", original["tracing_on"].strip())


def task_info_recording() -> tuple[bool, bool]:
    """How the kernel's comm/tgid recording refcounts stand, seen from outside:
    (a sched_switch event makes comms get saved, tgids get saved with no event enabled).
    Balanced refcounts give (True, False); see faulttui/capture/session.py for how they drift.
    """
    saved_tracing_on = read("tracing_on").strip()
    write("tracing_on", "1")
    try:
        write("events/sched/sched_switch/enable", "1")
        probe = subprocess.Popen(["sh", "-c", "sleep 0.05"])
        probe.wait()
        write("events/sched/sched_switch/enable", "0")
        comms_saved = any(line.split()[0] == str(probe.pid) for line in read("saved_cmdlines").splitlines())
        probe = subprocess.Popen(["sh", "-c", f"echo probe > {TRACEFS}/trace_marker; sleep 0.05"])
        probe.wait()
        tgids_saved = any(line.split()[0] == str(probe.pid) for line in read("saved_tgids").splitlines())
    finally:
        write("tracing_on", saved_tracing_on)
    return comms_saved, tgids_saved


def event_lines(text: str) -> list[tuple[str, int, str, str]]:
    """(comm, tid, tgid, event name) of each event line."""
    return [(m.group(1).strip(), int(m.group(2)), m.group(3), m.group(4))
            for line in text.splitlines() if (m := EVENT_LINE.match(line))]


def test_records_a_multithreaded_workload(tmp_path: Path, faultload: Path, cold_file: Path) -> None:
    out = tmp_path / "cold.txt.gz"
    result = run_record("-o", str(out), "--buffer-kb", "8192", "--",
                        str(faultload), str(cold_file), "4", "150", "20", "1", "0", "1", "0")
    assert result.returncode == 0, result.stderr
    assert f"next: faulttui open {out}" in result.stderr and "Traceback" not in result.stderr
    text = gzip.decompress(out.read_bytes()).decode()
    lines = text.splitlines()
    header = re.match(r"# faulttui-record: version=\S+ cmd=.*faultload.* pid=(\d+) ", lines[0])
    assert header, lines[0]
    pid = int(header.group(1))
    maps = [line for line in lines if line.startswith(f"# faulttui-maps pid={pid} ts_ns=")]
    assert any(line.endswith(str(faultload)) for line in maps)
    assert any(str(cold_file) in line for line in maps) or "faulttui-maps" in text
    assert lines[-1].startswith("# faulttui-record-end: ") and "cmd_status=exit:0" in lines[-1]

    events = event_lines(text)
    ours = [e for e in events if e[2] == str(pid)]
    names = {e[3] for e in ours}
    assert {"page_fault_user", "mmap_lock_start_locking", "mmap_lock_acquire_returned",
            "mmap_lock_released", "sched_switch", "mm_filemap_fault"} <= names
    assert len({e[1] for e in ours if e[3] == "page_fault_user"}) >= 4  # the worker threads
    assert any(e[0] == "faultload" for e in ours)  # comms resolved, not <...>
    # completions run in interrupt context: only the unfiltered buffer keeps them
    assert sum(e[3] == "block_rq_complete" for e in events) >= 10

    from faulttui.importers import open_trace

    source = open_trace(str(out))
    imported = list(source.events())
    assert source.format == "ftrace-text"
    assert sum(e.name == "page_fault_user" and e.tgid == pid for e in imported) >= 100
    assert {m.pid for m in source.stats.maps} == {pid}
    assert source.stats.lost_events == 0


def test_records_a_running_process_for_a_duration(tmp_path: Path) -> None:
    # about 3000 anonymous first-touch faults a second, and an madvise after each 16
    workload = ("import mmap, time\n"
                "m = mmap.mmap(-1, 16 << 12)\n"
                "end = time.monotonic() + 20\n"
                "while time.monotonic() < end:\n"
                "    for offset in range(0, 16 << 12, 4096): m[offset] = 1\n"
                "    m.madvise(mmap.MADV_DONTNEED)\n"
                "    time.sleep(0.005)\n")
    target = subprocess.Popen([sys.executable, "-c", workload])
    try:
        out = tmp_path / "pid.txt"
        result = run_record("-o", str(out), "--pid", str(target.pid), "--duration", "600ms",
                            "--buffer-kb", "4096")
        assert result.returncode == 0, result.stderr
        assert target.poll() is None  # --pid never stops the process
    finally:
        target.kill()
        target.wait()
    text = out.read_text()
    header = text.splitlines()[0]
    assert f"pid={target.pid} mode=pid" in header and "import mmap, time\\n" in header
    snapshots = {int(m.group(1)) for m in re.finditer(rf"^# faulttui-maps pid={target.pid} ts_ns=(\d+): ",
                                                      text, re.MULTILINE)}
    assert len(snapshots) == 2  # at the start and at the end
    faults = [e for e in event_lines(text) if e[1] == target.pid and e[3] == "page_fault_user"]
    assert len(faults) >= 100
    assert any(e[1] == target.pid and e[3] == "sys_madvise" for e in event_lines(text))


@pytest.mark.parametrize("case", ["success", "command fails", "command not found", "interrupted"])
def test_tracefs_is_left_as_found(tmp_path: Path, faultload: Path, cold_file: Path,
                                  foreign_state: dict[str, str], case: str) -> None:
    out = tmp_path / "out.txt"
    command = {"success": [str(faultload), str(cold_file), "2", "50", "5", "1", "0", "0", "0"],
               "command fails": ["sh", "-c", "exit 3"],
               "command not found": ["no-such-command-for-faulttui"],
               "interrupted": ["sleep", "30"]}[case]
    if case == "interrupted":
        process = subprocess.Popen(
            [sys.executable, "-m", "faulttui", "record", "-o", str(out), "--buffer-kb", "4096",
             "--", *command],
            cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        while "recording `sleep 30`" not in (line := process.stderr.readline()):
            assert line, "faulttui record ended before recording"
        assert read("tracing_on").strip() == "1" and read("set_event_pid").split() != [str(os.getpid())]
        process.send_signal(signal.SIGINT)
        stderr = process.stderr.read()
        returncode = process.wait(timeout=30)
    else:
        result = run_record("-o", str(out), "--buffer-kb", "4096", "--", *command)
        returncode, stderr = result.returncode, result.stderr
    expected_code = {"success": 0, "command fails": 0, "command not found": 2, "interrupted": 130}
    assert returncode == expected_code[case], stderr
    assert "Traceback" not in stderr
    assert out.exists() == (case != "command not found")
    assert tracefs_state() == foreign_state


def test_kernel_task_info_refcounts_survive_a_recording(tmp_path: Path) -> None:
    if read("set_event").strip() or any(read(f"instances/{name}/set_event").strip()
                                        for name in os.listdir(TRACEFS / "instances")):
        pytest.skip("other events are enabled: the refcount probe needs a quiet tracefs")
    if task_info_recording() != (True, False):
        pytest.skip("the kernel's comm/tgid refcounts were already off before this test")
    result = run_record("-o", str(tmp_path / "o.txt"), "--buffer-kb", "4096", "--", "true")
    assert result.returncode == 0, result.stderr
    assert task_info_recording() == (True, False)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1) for a private mount namespace")
def test_mounts_tracefs_when_it_is_not_mounted(tmp_path: Path) -> None:
    # In a private mount namespace: unmounting there leaves everyone else's tracefs alone.
    out = tmp_path / "o.txt"
    script = (f"umount {TRACEFS} || exit 99; "
              f"{sys.executable} -m faulttui record -o {out} --buffer-kb 4096 -- true; rc=$?; "
              f"grep -c ' {TRACEFS} ' /proc/self/mounts; exit $rc")
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    if result.returncode == 99:
        pytest.skip(f"cannot unmount tracefs in a private namespace: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"  # unmounted again: left as found
    assert out.read_text().startswith("# faulttui-record: ")
