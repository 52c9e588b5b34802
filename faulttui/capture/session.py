"""Configuring the ring buffers of one recording: events, clock, size, pid filter, stats."""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, field

from faulttui.capture.events import TraceEvent
from faulttui.capture.state import (
    BUFFER_SIZE_KB,
    CURRENT_TRACER,
    EVENT_FORK,
    RECORD_TGID,
    SET_EVENT,
    SET_EVENT_PID,
    TRACE_CLOCK,
    TRACING_ON,
    enable_file_of,
)
from faulttui.capture.tracefs import (
    TraceFs,
    TraceFsError,
    available_clocks,
    enabled_event_names,
    selected_clock,
)

# ktime_get_mono_fast_ns: CLOCK_MONOTONIC, so /proc/PID/maps snapshot times match the trace
TRACE_CLOCK_WANTED = "mono"
_STATS_LOST = re.compile(r"^(?:overrun|commit overrun|dropped events):\s*(\d+)", re.MULTILINE)


# Kernel pitfall behind the order of operations below (verified on 6.18): flipping
# options/record-tgid on any tracing directory walks *every* enabled event of *every*
# instance, taking a reference on sched_tgid_ref for each when turned on and dropping one
# for each when turned off, without checking that the event ever took one. Flipping it
# while other events are enabled therefore leaks references, or drops the count below zero,
# after which the kernel stops recording comms and tgids for everyone (`<...>` in every
# trace) until reboot. So: other events are disabled first, the flag is only flipped while
# none of ours are enabled, our instance is created after it (and inherits the flag
# without a walk), and it is never flipped while another instance has events enabled.


@dataclass(slots=True)
class BufferSetup:
    clock: str
    warnings: list[str] = field(default_factory=list)


def configure_buffer(tracefs: TraceFs, buffer_kb: int) -> BufferSetup:
    """Stop tracing, switch off every enabled event, set tracer, clock, size and tgid
    recording, clear the buffer. Enables nothing: call `enable_events` next.

    Call it inside `state.preserved` (top level) or on a fresh instance.
    """
    tracefs.write(TRACING_ON, "0")
    if tracefs.exists(SET_EVENT):
        for spec in enabled_event_names(tracefs.read(SET_EVENT)):
            tracefs.write(enable_file_of(spec), "0")
    tracefs.write(CURRENT_TRACER, "nop")
    listing = tracefs.read(TRACE_CLOCK)
    setup = BufferSetup(selected_clock(listing))
    if TRACE_CLOCK_WANTED in available_clocks(listing):
        tracefs.write(TRACE_CLOCK, TRACE_CLOCK_WANTED)
        setup.clock = TRACE_CLOCK_WANTED
    else:
        setup.warnings.append(
            f"trace clock `{TRACE_CLOCK_WANTED}` not offered: keeping `{setup.clock}`; "
            "maps snapshot times are approximate"
        )
    _resize(tracefs, buffer_kb)
    if not tracefs.exists(RECORD_TGID):
        setup.warnings.append("this kernel has no options/record-tgid: no tgid column")
    elif tracefs.read(RECORD_TGID).strip() != "1":
        busy = tracefs.instances_with_events() if tracefs.has_instances() else []
        if busy:
            setup.warnings.append(
                "not turning on options/record-tgid (no tgid column): tracing instance "
                f"{', '.join(busy)} has events enabled, and flipping the flag then corrupts "
                "the kernel's tgid/comm recording refcount"
            )
        else:
            tracefs.write(RECORD_TGID, "1")
    tracefs.write("trace", "")  # O_TRUNC clears the ring buffer and its overrun counters
    return setup


def enable_events(
    tracefs: TraceFs, events: tuple[TraceEvent, ...], filters: dict[str, str] | None = None
) -> list[str]:
    """Enable `events`, with a filter expression for those named (group:name) in `filters`
    (meant for our own instance: nobody else's filter is overwritten). Return warnings
    about filters someone else left on them."""
    warnings = []
    for event in events:
        expression = (filters or {}).get(event.spec)
        if expression is not None:
            tracefs.write(event.filter_file, expression)
        tracefs.write(event.enable_file, "1")
        if expression is None and tracefs.exists(event.filter_file):
            expression = tracefs.read(event.filter_file).strip()
            if expression and expression != "none":
                warnings.append(f"{event.spec} has a filter set by someone else ({expression}); kept")
    return warnings


def _resize(tracefs: TraceFs, buffer_kb: int) -> None:
    try:
        tracefs.write(BUFFER_SIZE_KB, str(buffer_kb))
    except TraceFsError as error:
        cause = error.__cause__
        if isinstance(cause, OSError) and cause.errno == errno.ENOMEM:
            raise TraceFsError(
                f"the kernel cannot allocate {buffer_kb} KB of trace buffer per CPU: "
                "use a smaller --buffer-kb",
                path=error.path,
            ) from error
        raise


def filter_to_pids(tracefs: TraceFs, pids: list[int]) -> None:
    """Keep only events of `pids` and, through event-fork, of the tasks they fork later."""
    tracefs.write(EVENT_FORK, "1")
    tracefs.write(SET_EVENT_PID, " ".join(str(pid) for pid in pids))


def add_pids(tracefs: TraceFs, pids: list[int]) -> None:
    if pids:
        # leading space: the kernel skips it; a plain file (tests) keeps the pids apart
        tracefs.append(SET_EVENT_PID, " " + " ".join(str(pid) for pid in pids))


def filtered_pids(tracefs: TraceFs) -> set[int]:
    return {int(token) for token in tracefs.read(SET_EVENT_PID).split()}


def lost_events(tracefs: TraceFs) -> dict[int, int]:
    """Events lost per CPU: overwritten (overrun), or dropped because the buffer was full."""
    lost = {}
    for cpu in tracefs.cpu_ids():
        stats = tracefs.read(f"per_cpu/cpu{cpu}/stats")
        lost[cpu] = sum(int(count) for count in _STATS_LOST.findall(stats))
    return lost
