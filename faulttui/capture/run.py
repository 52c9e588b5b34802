"""The traced part of a recording: start tracing, run or watch the target, stop tracing."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Protocol

from faulttui.capture.proc import MapsSnapshot, command_line, monotonic_ns, read_maps, thread_ids
from faulttui.capture.session import add_pids, filter_to_pids, filtered_pids
from faulttui.capture.state import TRACING_ON
from faulttui.capture.target import (
    ExecFailed,
    SignalGate,
    abandon,
    fork_gated,
    kill_and_reap,
    open_gate,
    wait_command,
    wait_process,
)
from faulttui.capture.tracefs import TraceFs
from faulttui.errors import FaultTuiError

NEW_THREAD_ROUNDS = 10


class Reporter(Protocol):
    """Where a recording tells the user what it is doing (the CLI prints to stderr)."""

    def status(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def progress(self, text_bytes: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """A command to run (argv and the file to exec) or a running process (pid)."""

    argv: tuple[str, ...]
    executable: str | None
    pid: int | None = None

    def display(self) -> str:
        if self.argv:
            return shlex.join(self.argv)
        return command_line(self.pid) if self.pid is not None else ""


@dataclass(frozen=True, slots=True)
class TracedBuffers:
    main: TraceFs  # the top level; pid-filtered when pid_filter
    side: TraceFs | None  # an instance without a pid filter
    pid_filter: bool

    def start(self) -> None:
        if self.side is not None:
            self.side.write(TRACING_ON, "1")
        self.main.write(TRACING_ON, "1")

    def stop(self) -> None:
        self.main.write(TRACING_ON, "0")
        if self.side is not None:
            self.side.write(TRACING_ON, "0")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    pid: int
    command: str
    start_maps: MapsSnapshot | None
    end_maps: MapsSnapshot | None
    wait_status: int | None
    duration_ns: int


class _MapsPoller:
    """Keeps the latest /proc/PID/maps snapshot: a command's mm is gone once it exits, so
    its "end" snapshot is the last one taken while it was alive."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.first: MapsSnapshot | None = None
        self.latest: MapsSnapshot | None = None

    def poll(self) -> None:
        snapshot = read_maps(self.pid)
        if snapshot is not None:
            self.latest = snapshot
            if self.first is None:
                self.first = snapshot


def run_target(
    target: Target,
    buffers: TracedBuffers,
    gate: SignalGate,
    duration_s: float | None,
    maps_interval_s: float,
    reporter: Reporter,
) -> RunOutcome:
    if target.executable is not None:
        return _run_command(target, target.executable, buffers, gate, maps_interval_s, reporter)
    assert target.pid is not None
    return _watch_process(target.pid, buffers, gate, duration_s, maps_interval_s, reporter)


def _run_command(
    target: Target,
    executable: str,
    buffers: TracedBuffers,
    gate: SignalGate,
    maps_interval_s: float,
    reporter: Reporter,
) -> RunOutcome:
    child = fork_gated(executable, list(target.argv), gate)
    gate_opened = reaped = False
    try:
        if buffers.pid_filter:
            filter_to_pids(buffers.main, [child.pid])
        buffers.start()
        started_ns = monotonic_ns()
        gate_opened = True
        try:
            open_gate(child)
        except ExecFailed as failed:
            reaped = True
            raise FaultTuiError(f"cannot run {target.argv[0]}: {failed}") from failed
        # right after exec: the kernel has set up the binary, ld.so and the stack
        maps = _MapsPoller(child.pid)
        maps.poll()
        reporter.status(f"recording `{target.display()}` (pid {child.pid}); Ctrl-C stops it")
        exit_ = wait_command(child.pid, gate, maps.poll, maps_interval_s, reporter.status)
        reaped = True
        stopped_ns = monotonic_ns()
    finally:
        buffers.stop()
        if not gate_opened:
            abandon(child)
        elif not reaped:
            kill_and_reap(child.pid)
    return RunOutcome(child.pid, target.display(), maps.first, maps.latest, exit_.wait_status,
                      stopped_ns - started_ns)


def _watch_process(
    pid: int,
    buffers: TracedBuffers,
    gate: SignalGate,
    duration_s: float | None,
    maps_interval_s: float,
    reporter: Reporter,
) -> RunOutcome:
    command = command_line(pid)
    if buffers.pid_filter:
        threads = thread_ids(pid)
        if not threads:
            raise FaultTuiError(f"process {pid} exited before recording started")
        filter_to_pids(buffers.main, threads)
    try:
        buffers.start()
        started_ns = monotonic_ns()
        if buffers.pid_filter:
            _add_new_threads(buffers.main, pid)
        maps = _MapsPoller(pid)
        maps.poll()
        until = f"for {duration_s:g} s" if duration_s else "until it exits"
        reporter.status(f"recording pid {pid} `{command}` {until}; Ctrl-C stops it")
        deadline = time.monotonic() + duration_s if duration_s else None
        wait_process(pid, gate, deadline, maps.poll, maps_interval_s)
        maps.poll()
        stopped_ns = monotonic_ns()
    finally:
        buffers.stop()
    return RunOutcome(pid, command, maps.first, maps.latest, None, stopped_ns - started_ns)


def _add_new_threads(tracefs: TraceFs, pid: int) -> None:
    """Threads created between listing them and the filter taking effect (event-fork adds
    every later one): add them until the listing is stable."""
    for _ in range(NEW_THREAD_ROUNDS):
        new = sorted(set(thread_ids(pid)) - filtered_pids(tracefs))
        if not new:
            return
        add_pids(tracefs, new)
