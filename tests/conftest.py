"""Shared fixtures and trace-building helpers for the importer / reconstruction / info tests.

Test modules import the plain helpers with `from conftest import ...` (pytest puts `tests/`
on sys.path; the same pattern as `perfetto_fixtures`). Everything here is written from
DESIGN.md / DOMAIN.md, never by calling faulttui code, so that the independent counter
(`count_trace_text`) can check `faulttui info --json` on real traces.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "sample_traces"
COLD_8T = SAMPLES / "cold-8t-writer.txt.xz"
BIGVMA = SAMPLES / "bigvma-mprotect.txt.xz"
FORK_8T = SAMPLES / "fork-8t.txt.xz"
TC_8T_DAT = SAMPLES / "tc-8t.dat"
SHARED_MEMCG_64T = Path("/work/shared/traces/memcg-64t.txt.xz")

MM = "00000000716bc7e1"  # a hashed %p, as raw tracefs prints it
OTHER_MM = "00000000a7171951"


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test may write into the user's real cache directory."""
    cache = tmp_path_factory.mktemp("faulttui-cache")
    monkeypatch.setenv("FAULTTUI_CACHE_DIR", str(cache))
    return cache


def needs_trace_cmd() -> pytest.MarkDecorator:
    return pytest.mark.skipif(shutil.which("trace-cmd") is None,
                              reason="trace-cmd is not installed (CI installs it)")


# --- building trace lines ------------------------------------------------------------------

def format_timestamp(ts_us: float | int, digits: int = 6) -> str:
    """`sec.usec` (raw tracefs, 6 digits) or `sec.nsec` (trace-cmd -t, 9 digits) from µs."""
    total = round(ts_us * 10 ** (digits - 6))
    sec, frac = divmod(total, 10**digits)
    return f"{sec}.{frac:0{digits}d}"


def tracefs_line(comm: str, pid: int, ts_us: float | int, name: str, body: str, *, cpu: int = 0,
                 flags: str | None = "d..2.", tgid: int | None = None) -> str:
    """One raw tracefs line: `comm-pid [(tgid)] [cpu] [flags] sec.usec: name: body`.

    `flags=None` drops the flags column (old kernels / `nop` without irq-info); a `tgid`
    adds the record-tgid column `(  1234)`.
    """
    task = f"{comm}-{pid}".rjust(16)
    tgid_column = f" ({tgid:>5})" if tgid is not None else ""
    flags_column = f" {flags}" if flags is not None else ""
    stamp = format_timestamp(ts_us)
    if name.startswith("sys_enter_"):
        event = f"sys_{name[10:]}({body})"
    elif name.startswith("sys_exit_"):
        event = f"sys_{name[9:]} -> {body}"
    else:
        event = f"{name}: {body}"
    return f"{task}{tgid_column} [{cpu:03d}]{flags_column} {stamp:>12}: {event}"


def tracecmd_line(comm: str, pid: int, ts_us: float | int, name: str, body: str, *,
                  cpu: int = 0) -> str:
    """One `trace-cmd report -t` line: no flags column, ns timestamps, padded event name."""
    task = f"{comm}-{pid}".rjust(16)
    return f"{task} [{cpu:03d}] {format_timestamp(ts_us, 9):>15}: {name + ':':<21} {body}"


def fault_body(address: int = 0x7F86E3A03000, ip: int = 0x5586DDF0361E,
               error_code: int = 0x4) -> str:
    return f"address=0x{address:x} ip=0x{ip:x} error_code=0x{error_code:x}"


def lock_body(write: bool, success: bool | None = None, mm: str = MM,
              memcg: str = "memcg_id=5018") -> str:
    body = f"mm={mm} {memcg} write={'true' if write else 'false'}"
    if success is not None:
        body += f" success={'true' if success else 'false'}"
    return body


def switch_body(prev_comm: str, prev_pid: int, prev_state: str, next_comm: str,
                next_pid: int, prio: int = 120) -> str:
    return (f"prev_comm={prev_comm} prev_pid={prev_pid} prev_prio={prio} "
            f"prev_state={prev_state} ==> next_comm={next_comm} next_pid={next_pid} "
            f"next_prio={prio}")


def switch_plugin_body(prev_comm: str, prev_pid: int, prev_state: str, next_comm: str,
                       next_pid: int, prio: int = 120) -> str:
    """trace-cmd's sched_switch plugin form: `comm:pid [prio] D ==> comm:pid [prio]`."""
    return f"{prev_comm}:{prev_pid} [{prio}] {prev_state} ==> {next_comm}:{next_pid} [{prio}]"


def waking_body(comm: str, pid: int, prio: int = 120, target_cpu: int = 0) -> str:
    return f"comm={comm} pid={pid} prio={prio} target_cpu={target_cpu:03d}"


def filemap_body(ino: int = 0x20C051, ofs: int = 260059136) -> str:
    return f"dev=254:0 ino={ino:x} ofs={ofs}"


def block_issue_body(sector: int = 47366168, comm: str = "faultload",
                     ioprio: bool = True) -> str:
    prio = " be,0,4" if ioprio else ""
    return f"254,0 R 4096 () {sector} + 8{prio} [{comm}]"


def block_complete_body(sector: int = 47366168, ioprio: bool = True) -> str:
    prio = " be,0,4" if ioprio else ""
    return f"254,0 R () {sector} + 8{prio} [0]"


TRACEFS_HEADER = (
    "# tracer: nop\n"
    "#\n"
    "# entries-in-buffer/entries-written: 0/0   #P:2\n"
    "#\n"
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
    "#              | |         |   |||||     |         |\n"
)


@dataclass
class ThreadScript:
    """Builds one thread's raw tracefs lines, one microsecond apart by default."""

    pid: int
    comm: str = "faultload"
    cpu: int = 0
    mm: str = MM
    lines: list[str] = field(default_factory=list)
    now_us: float = 377_000_000.0

    def at(self, ts_us: float) -> ThreadScript:
        self.now_us = ts_us
        return self

    def event(self, name: str, body: str, advance_us: float = 1.0) -> ThreadScript:
        self.lines.append(tracefs_line(self.comm, self.pid, self.now_us, name, body, cpu=self.cpu))
        self.now_us += advance_us
        return self

    def fault(self, address: int = 0x7F86E3A03000) -> ThreadScript:
        return self.event("page_fault_user", fault_body(address))

    def start_locking(self, write: bool = False) -> ThreadScript:
        return self.event("mmap_lock_start_locking", lock_body(write, mm=self.mm))

    def acquire(self, write: bool = False, success: bool = True) -> ThreadScript:
        return self.event("mmap_lock_acquire_returned", lock_body(write, success, mm=self.mm))

    def release(self, write: bool = False) -> ThreadScript:
        return self.event("mmap_lock_released", lock_body(write, mm=self.mm))

    def filemap(self) -> ThreadScript:
        return self.event("mm_filemap_fault", filemap_body())

    def block_issue(self, sector: int = 47366168) -> ThreadScript:
        return self.event("block_rq_issue", block_issue_body(sector, self.comm))

    def switch_out(self, state: str = "D", advance_us: float = 1.0) -> ThreadScript:
        return self.event("sched_switch",
                          switch_body(self.comm, self.pid, state, "swapper/0", 0), advance_us)

    def switch_in(self, advance_us: float = 1.0) -> ThreadScript:
        """The switch that runs this thread again (printed in the idle task's context)."""
        self.lines.append(tracefs_line("<idle>", 0, self.now_us, "sched_switch",
                                       switch_body("swapper/0", 0, "R", self.comm, self.pid),
                                       cpu=self.cpu))
        self.now_us += advance_us
        return self

    def syscall(self, op: str, args: str, ret: str = "0x0",
                inside: Sequence[tuple[str, str]] = ()) -> ThreadScript:
        self.event(f"sys_enter_{op}", args)
        for name, body in inside:
            self.event(name, body)
        return self.event(f"sys_exit_{op}", ret)


def merge_by_timestamp(*scripts: ThreadScript) -> list[str]:
    """All scripts' lines in timestamp order (stable: a script's own order is kept)."""
    keyed = []
    for index, script in enumerate(scripts):
        for position, line in enumerate(script.lines):
            stamp = line.split(": ", 1)[0].split()[-1]
            keyed.append((float(stamp), index, position, line))
    keyed.sort(key=lambda item: (item[0], item[1], item[2]))
    return [line for *_, line in keyed]


def write_trace(path: Path, lines: Iterable[str], *, header: str = TRACEFS_HEADER,
                compress: str | None = None) -> Path:
    """Write a trace file (plain, gzip or xz content, whatever the name says)."""
    data = (header + "".join(line + "\n" for line in lines)).encode()
    if compress == "gzip":
        data = gzip.compress(data)
    elif compress == "xz":
        data = lzma.compress(data)
    path.write_bytes(data)
    return path


def run_cli(*args: str | os.PathLike[str], cwd: Path = REPO_ROOT,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m faulttui ARGS` in a subprocess (inherits FAULTTUI_CACHE_DIR)."""
    return subprocess.run([sys.executable, "-m", "faulttui", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def read_trace_text(path: Path) -> str:
    """Decompressed text of a trace; a .dat goes through `trace-cmd report -t`."""
    raw = path.read_bytes()
    if raw.startswith(b"\x17\x08\x44tracing"):
        result = subprocess.run(["trace-cmd", "report", "-t", "-i", str(path)],
                                capture_output=True, check=True)
        return result.stdout.decode("utf-8", "replace")
    if raw.startswith(b"\xfd7zXZ\x00"):
        raw = lzma.decompress(raw)
    elif raw.startswith(b"\x1f\x8b"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


# --- an independent counter for `faulttui info --json` (DESIGN.md counting rules) -----------

@dataclass
class IndependentCounts:
    events: int = 0
    event_counts: Counter[str] = field(default_factory=Counter)
    lost_events: int = 0
    faults_total: int = 0
    fault_tids: set[int] = field(default_factory=set)
    io_sleep: int = 0
    retry_mmap: int = 0
    mmap_fallback: int = 0
    vma_only: int = 0
    read: int = 0
    write: int = 0
    trylock_failed: int = 0
    downgrades: int = 0

    def as_info(self) -> dict[str, object]:
        """The same shape as the contract keys of `faulttui info --json`."""
        return {
            "events": self.events,
            "event_counts": dict(sorted(self.event_counts.items())),
            "lost_events": self.lost_events,
            "faults": {"total": self.faults_total, "threads": len(self.fault_tids),
                       "io_sleep": self.io_sleep, "retry_mmap": self.retry_mmap,
                       "mmap_fallback": self.mmap_fallback, "vma_only": self.vma_only},
            "mmap_lock": {"acquisitions": {"read": self.read, "write": self.write},
                          "trylock_failed": self.trylock_failed, "downgrades": self.downgrades},
        }


def _is_timestamp_token(token: str) -> bool:
    if not token.endswith(":"):
        return False
    sec, dot, frac = token[:-1].partition(".")
    return bool(dot) and sec.isdigit() and frac.isdigit()


def split_event_line(line: str) -> tuple[int, str, str] | None:
    """(tid, normalized event name, body) of an ftrace text event line, else None."""
    tokens = line.split()
    stamp_index = next((i for i, token in enumerate(tokens) if _is_timestamp_token(token)), None)
    if stamp_index is None or stamp_index + 1 >= len(tokens):
        return None
    stamp = tokens[stamp_index]
    head, _, rest = line.partition(" " + stamp + " ")
    # head: `comm-pid [(tgid)] [cpu] [flags]`; the CPU is the last `[digits]` group
    cpu_at = max(i for i in range(len(head)) if head[i] == "[" and head[i + 1:].split("]")[0]
                 .isdigit())
    task = head[:cpu_at].rstrip()
    if task.endswith(")"):
        task = task[: task.rindex("(")].rstrip()
    tid = int(task.rsplit("-", 1)[1])
    word = tokens[stamp_index + 1]
    if word.startswith("sys_") and "(" in word:
        name = "sys_enter_" + word.split("(")[0][4:]
        body = rest.partition("(")[2].rstrip().removesuffix(")")
    elif word.endswith(":"):
        name = word[:-1]
        body = rest.partition(":")[2].strip()
    elif word.startswith("sys_") and tokens[stamp_index + 2: stamp_index + 3] == ["->"]:
        name = "sys_exit_" + word[4:]
        body = rest.partition("->")[2].strip()
    else:
        return None
    return tid, name, body


def _key_values(body: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in body.split() if "=" in token)


def _switched_out(body: str) -> tuple[int, str]:
    """(prev pid, prev state) of a sched_switch body, kernel or trace-cmd plugin form."""
    if "prev_pid=" in body:
        values = _key_values(body.split(" ==> ")[0])
        return int(values["prev_pid"]), values["prev_state"]
    left = body.split(" ==> ")[0].split()
    return int(left[-3].rsplit(":", 1)[1]), left[-1]


@dataclass
class _Window:
    io_sleep: bool = False
    retry_mmap: bool = False
    mmap_fallback: bool = False
    lock_event: bool = False


def count_trace_text(text: str) -> IndependentCounts:
    """Count what `faulttui info --json` must report, straight from DESIGN.md's rules."""
    counts = IndependentCounts()
    windows: dict[int, _Window] = {}
    requested: dict[int, tuple[str, bool]] = {}  # tid -> (mm, write) of its last start_locking
    write_held: set[tuple[int, str]] = set()

    def close_window(tid: int) -> None:
        window = windows.pop(tid, None)
        if window is None:
            return
        counts.io_sleep += window.io_sleep
        counts.retry_mmap += window.retry_mmap
        counts.mmap_fallback += window.mmap_fallback
        counts.vma_only += not window.lock_event

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("CPU:") and ("LOST" in stripped or "DROPPED" in stripped):
            words = stripped.split("[")[1].split()  # `LOST 123 EVENTS]` or `123 EVENTS DROPPED]`
            counts.lost_events += int(words[1] if words[0] == "LOST" else words[0])
            continue
        if not stripped or stripped.startswith(("#", "cpus=")):
            continue
        parsed = split_event_line(line)
        if parsed is None:
            continue
        tid, name, body = parsed
        counts.events += 1
        counts.event_counts[name] += 1
        window = windows.get(tid)
        if name == "page_fault_user":
            close_window(tid)
            windows[tid] = _Window()
            counts.faults_total += 1
            counts.fault_tids.add(tid)
        elif name.startswith("sys_enter_"):
            close_window(tid)
        elif name == "sched_switch":
            prev_pid, state = _switched_out(body)
            prev_window = windows.get(prev_pid)
            if prev_window is not None and state.startswith("D"):
                prev_window.io_sleep = True
        elif name.startswith("mmap_lock_"):
            values = _key_values(body)
            mm, write = values["mm"], values["write"] == "true"
            if window is not None:
                window.lock_event = True
            if name == "mmap_lock_start_locking":
                requested[tid] = (mm, write)
                if window is not None and not write and not window.io_sleep:
                    window.mmap_fallback = True
            elif name == "mmap_lock_acquire_returned":
                waited = requested.pop(tid, None) == (mm, write)
                if values["success"] == "false":
                    counts.trylock_failed += 1
                    if window is not None and not write and not window.io_sleep:
                        window.mmap_fallback = True
                elif write:
                    counts.write += 1
                    write_held.add((tid, mm))
                elif not waited and (tid, mm) in write_held:
                    counts.downgrades += 1
                    write_held.discard((tid, mm))
                else:
                    counts.read += 1
                    if window is not None and window.io_sleep:
                        window.retry_mmap = True
            elif name == "mmap_lock_released" and write:
                write_held.discard((tid, mm))
    for tid in list(windows):
        close_window(tid)
    return counts


def info_contract_subset(info: dict[str, object]) -> dict[str, object]:
    """The keys of `faulttui info --json` that `IndependentCounts.as_info` also has."""
    keys = ("events", "event_counts", "lost_events", "faults", "mmap_lock")
    return {key: info[key] for key in keys}
