"""`faulttui record`: set tracefs up, trace a command or a process, save, put tracefs back.

Order of a recording (each step undone on every way out, including errors and Ctrl-C):
lock the tracing directory, save its settings, configure the pid-filtered top-level
buffer and an unfiltered instance (`events` says which event goes where and why, `session`
why the order of the steps matters), start the target under the filter, wait, stop
tracing, write the file, remove the instance, restore the settings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from faulttui import __version__
from faulttui.capture.comments import header_line, trailer_line
from faulttui.capture.events import Buffer
from faulttui.capture.mount import access_problem, locate_tracefs, unmount_filesystem
from faulttui.capture.output import (
    Duplicates,
    OutputFile,
    SaveInterrupted,
    TextStats,
    copy_trace,
    tids_firing,
)
from faulttui.capture.plan import Plan, make_plan
from faulttui.capture.proc import (
    kernel_release,
    maps_comment_lines,
    process_exists,
)
from faulttui.capture.run import Reporter, RunOutcome, Target, TracedBuffers, run_target
from faulttui.capture.session import configure_buffer, enable_events, lost_events
from faulttui.capture.state import TRACING_ON, preserved, private_instance
from faulttui.capture.target import SignalGate
from faulttui.capture.tracefs import TraceFs, TraceFsError
from faulttui.errors import ExitCode, FaultTuiError

DEFAULT_BUFFER_KB = 65536
INSTANCE_PREFIX = "faulttui-record-"
MAPS_INTERVAL_S = 0.25


class RecordInterrupted(FaultTuiError):
    """Stopped while saving: no trace was written."""

    exit_code = ExitCode.INTERRUPTED


@dataclass(frozen=True, slots=True)
class RecordRequest:
    output: str
    command: tuple[str, ...] = ()
    pid: int | None = None
    duration_s: float | None = None
    buffer_kb: int = DEFAULT_BUFFER_KB
    strict: bool = False
    system_wide: bool = False
    tracefs_dir: str | None = None
    maps_interval_s: float = MAPS_INTERVAL_S


@dataclass(slots=True)
class RecordResult:
    output: str
    pid: int
    command: str
    text: TextStats
    lost_by_cpu: dict[int, int]
    file_bytes: int
    duration_ns: int
    missing_events: tuple[str, ...]
    wait_status: int | None  # the command's, in command mode
    stop_signal: int | None  # a stop signal faulttui received (Ctrl-C...), if any
    warnings: list[str] = field(default_factory=list)

    @property
    def lost_events(self) -> int:
        return max(sum(self.lost_by_cpu.values()), self.text.lost_in_markers)


def resolve_executable(name: str) -> str:
    """The file `exec` will run for `name`, or a one-line error (exit 2)."""
    found = shutil.which(name)
    if found is None:
        if os.sep in name and os.path.exists(name):
            raise FaultTuiError(f"command is not executable: {name}")
        raise FaultTuiError(f"command not found: {name}")
    return found


def record(
    request: RecordRequest,
    reporter: Reporter,
    euid: int | None = None,
    tracefs: TraceFs | None = None,
) -> RecordResult:
    """Run one recording; raises FaultTuiError for what the user must fix (exit 2).

    `tracefs` replaces finding (and mounting) it: tests pass a fake one.
    """
    euid = os.geteuid() if euid is None else euid
    if bool(request.command) == (request.pid is not None):
        raise FaultTuiError("give either a command to run or --pid PID")
    if request.command:
        target = Target(request.command, resolve_executable(request.command[0]))
    else:
        target = Target((), None, request.pid)
    if request.pid is not None and not process_exists(request.pid):
        raise FaultTuiError(f"no process with pid {request.pid}")
    if tracefs is not None:
        return _record_with(tracefs, request, target, reporter)
    located = locate_tracefs(request.tracefs_dir, euid)
    try:
        problem = access_problem(euid, os.access(located.tracefs.path(TRACING_ON), os.W_OK))
        if problem:
            raise TraceFsError(problem, path=located.tracefs.root)
        return _record_with(located.tracefs, request, target, reporter)
    finally:
        if located.mounted_by_us:
            try:
                unmount_filesystem(located.mounted_by_us)
            except TraceFsError as error:
                reporter.warning(f"{error} (faulttui mounted it for this recording)")


def _record_with(
    tracefs: TraceFs, request: RecordRequest, target: Target, reporter: Reporter
) -> RecordResult:
    plan = make_plan(tracefs, request.system_wide, request.strict, request.pid, reporter)
    out = OutputFile(request.output)
    try:
        with tracefs.exclusive(), SignalGate() as gate:
            _remove_stale_instances(tracefs, reporter)
            main_enables = [event.enable_file for event in plan.in_buffer(Buffer.PROCESS)]
            with preserved(tracefs, main_enables):
                # order matters (session.py): tgid flag, then our instance, then the events
                setup = configure_buffer(tracefs, request.buffer_kb)
                with _side_buffer(tracefs, plan.split) as side:
                    buffers = _arm(tracefs, side, plan, setup.warnings, request, reporter)
                    ran = run_target(target, buffers, gate, request.duration_s,
                                     request.maps_interval_s, reporter)
                    reporter.status("saving the trace")
                    header = _header_line(request, ran, setup.clock, plan)
                    lost = _lost_by_cpu(buffers)
                    text = _save(out, buffers, header, ran, lost, plan.duplicated_names, gate,
                                 reporter)
                    out.write_text([trailer_line(text, lost, ran.wait_status, ran.duration_ns)])
        file_bytes = out.commit()
    except SaveInterrupted as stopped:
        out.discard()
        raise RecordInterrupted("interrupted while saving: no trace written") from stopped
    except BaseException:
        out.discard()
        raise
    return RecordResult(
        request.output, ran.pid, ran.command, text, lost, file_bytes, ran.duration_ns, plan.missing,
        ran.wait_status, gate.received[0] if gate.received else None,
    )


def _arm(
    main: TraceFs,
    side: TraceFs | None,
    plan: Plan,
    warnings: list[str],
    request: RecordRequest,
    reporter: Reporter,
) -> TracedBuffers:
    """Configure the side buffer, then enable the events of both (tracing stays off)."""
    if side is not None:
        warnings = warnings + configure_buffer(side, side_buffer_kb(request.buffer_kb)).warnings
    warnings = warnings + enable_events(main, plan.in_buffer(Buffer.PROCESS))
    if side is not None:
        warnings += enable_events(side, plan.in_buffer(Buffer.SYSTEM), plan.filters)
    for message in dict.fromkeys(warnings):
        reporter.warning(message)
    return TracedBuffers(main, side, pid_filter=plan.pid_filter)


def side_buffer_kb(buffer_kb: int) -> int:
    """The unfiltered buffer holds fewer events (block, mmap_lock, evictions): half size."""
    return max(buffer_kb // 2, 256)


def _lost_by_cpu(buffers: TracedBuffers) -> dict[int, int]:
    lost = lost_events(buffers.main)
    if buffers.side is not None:
        for cpu, count in lost_events(buffers.side).items():
            lost[cpu] = lost.get(cpu, 0) + count
    return lost


@contextlib.contextmanager
def _side_buffer(tracefs: TraceFs, wanted: bool) -> Iterator[TraceFs | None]:
    if not wanted:
        yield None
        return
    with private_instance(tracefs, f"{INSTANCE_PREFIX}{os.getpid()}") as instance:
        yield instance


def _remove_stale_instances(tracefs: TraceFs, reporter: Reporter) -> None:
    """Instances left by a faulttui record that was killed (SIGKILL cannot be cleaned up)."""
    for name in tracefs.instance_names():
        owner = name.removeprefix(INSTANCE_PREFIX)
        if name.startswith(INSTANCE_PREFIX) and owner.isdigit() and not process_exists(int(owner)):
            tracefs.remove_instance(name)
            reporter.warning(f"removed tracing instance {name} left by a killed recording")


def _save(
    out: OutputFile,
    buffers: TracedBuffers,
    header: str,
    ran: RunOutcome,
    lost: dict[int, int],
    duplicated_names: frozenset[str],
    gate: SignalGate,
    reporter: Reporter,
) -> TextStats:
    stops_before = len(gate.received)

    def stop_requested() -> bool:
        return gate.stop_requested() and len(gate.received) > stops_before

    out.write_text([header])
    if ran.start_maps is not None:
        out.write_text(maps_comment_lines(ran.start_maps))
    duplicates = Duplicates()
    if buffers.side is not None and duplicated_names:
        names = frozenset(name.encode() for name in duplicated_names)
        with buffers.main.open_binary("trace") as main:  # `trace` reads do not consume
            duplicates = Duplicates(names, tids_firing(main, names))
    with contextlib.ExitStack() as files:
        main = files.enter_context(buffers.main.open_binary("trace"))
        side = files.enter_context(buffers.side.open_binary("trace")) if buffers.side else None
        text = copy_trace(out, main, side, stop_requested, reporter.progress, lost, duplicates)
    if ran.end_maps is not None and ran.end_maps != ran.start_maps:
        out.write_text(maps_comment_lines(ran.end_maps))
    return text


def _header_line(request: RecordRequest, ran: RunOutcome, clock: str, plan: Plan) -> str:
    return header_line({
        "version": __version__,
        "cmd": ran.command,
        "pid": str(ran.pid),
        "mode": "command" if request.command else "pid",
        "scope": "process" if plan.pid_filter else "system",
        "clock": clock,
        "maps_ts": "exact" if clock == "mono" else "approximate",
        "buffer_kb": str(request.buffer_kb),
        "kernel": kernel_release(),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "unfiltered": ",".join(e.name for e in plan.in_buffer(Buffer.SYSTEM)) or "none",
        "mmap_lock_filter": next(iter(plan.filters.values()), "none"),
        "missing_events": ",".join(plan.missing) or "none",
    })
