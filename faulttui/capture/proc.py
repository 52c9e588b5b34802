"""What /proc says about the target: its threads, its command line, its memory map."""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass

from faulttui.errors import FaultTuiError

MAPS_LINE_PREFIX = "# faulttui-maps"


@dataclass(frozen=True, slots=True)
class MapsSnapshot:
    """The lines of /proc/PID/maps at `ts_ns` (CLOCK_MONOTONIC, read just before the file)."""

    pid: int
    ts_ns: int
    lines: tuple[str, ...]


def monotonic_ns() -> int:
    # The recorder sets trace_clock to `mono` (ktime_get_mono_fast_ns), the same clock as
    # CLOCK_MONOTONIC, so these timestamps line up with the trace's. If the kernel refused
    # `mono`, the trace runs on `local` (sched_clock) and they are only approximate.
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def read_maps(pid: int, proc: str = "/proc") -> MapsSnapshot | None:
    """A snapshot of the process's mappings, or None if it has exited (or has no mm left)."""
    ts_ns = monotonic_ns()
    path = f"{proc}/{pid}/maps"
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            text = file.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as error:
        raise FaultTuiError(f"cannot read: {error.strerror}", path=path) from error
    lines = tuple(text.splitlines())
    if not lines:  # a zombie: the mm is gone before the task is reaped
        return None
    return MapsSnapshot(pid, ts_ns, lines)


def maps_comment_lines(snapshot: MapsSnapshot) -> Iterator[str]:
    """`# faulttui-maps pid=<PID> ts_ns=<ns>: <maps line verbatim>` per line (importer contract)."""
    for line in snapshot.lines:
        yield f"{MAPS_LINE_PREFIX} pid={snapshot.pid} ts_ns={snapshot.ts_ns}: {line}\n"


def thread_ids(pid: int, proc: str = "/proc") -> list[int]:
    """The tids of every thread of process `pid` (empty if it has exited)."""
    try:
        return sorted(int(name) for name in os.listdir(f"{proc}/{pid}/task") if name.isdigit())
    except FileNotFoundError:
        return []


def process_exists(pid: int, proc: str = "/proc") -> bool:
    return os.path.isdir(f"{proc}/{pid}/task") and bool(thread_ids(pid, proc))


def command_line(pid: int, proc: str = "/proc") -> str:
    """The process's argv, shell-quoted ("" if unreadable: a kernel thread or gone)."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as file:
            raw = file.read()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    args = [arg.decode("utf-8", "surrogateescape") for arg in raw.split(b"\0") if arg]
    return shlex.join(args)


def kernel_release() -> str:
    return os.uname().release
