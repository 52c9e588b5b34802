"""Which events to enable in which buffer, with which filter, on this kernel."""

from __future__ import annotations

import os
from dataclasses import dataclass

from faulttui.capture.events import (
    RECORDED_EVENTS,
    Buffer,
    TraceEvent,
    in_one_buffer,
    split_available,
)
from faulttui.capture.memcg import memory_cgroup_of, mmap_lock_filter
from faulttui.capture.run import Reporter
from faulttui.capture.tracefs import TraceFs, TraceFsError


@dataclass(frozen=True, slots=True)
class Plan:
    events: tuple[TraceEvent, ...]
    missing: tuple[str, ...]  # group:name of the events this kernel lacks
    split: bool  # whether an unfiltered instance takes the Buffer.SYSTEM events
    filters: dict[str, str]  # group:name -> filter expression, in the instance
    pid_filter: bool  # whether the top level is filtered to the target's tasks

    def in_buffer(self, buffer: Buffer) -> tuple[TraceEvent, ...]:
        """The events to enable in the top level (PROCESS) or the instance (SYSTEM)."""
        return tuple(event for event in self.events if event.buffer.feeds(buffer))

    @property
    def duplicated_names(self) -> frozenset[str]:
        """Events in both buffers: the merge keeps the instance's copies of other tasks only."""
        if not self.split:
            return frozenset()
        return frozenset(event.name for event in self.events if event.buffer is Buffer.BOTH)


def make_plan(
    tracefs: TraceFs, system_wide: bool, strict: bool, pid: int | None, reporter: Reporter
) -> Plan:
    """`pid`: the process to trace, None for a command (it inherits our cgroup)."""
    wanted = in_one_buffer(RECORDED_EVENTS) if system_wide else RECORDED_EVENTS
    present, missing = split_available(tracefs, wanted)
    missing_names = tuple(event.spec for event in missing)
    if missing and strict:
        raise TraceFsError("this kernel lacks events (--strict): " + ", ".join(missing_names),
                           path=tracefs.root)
    if not present:
        raise TraceFsError("this kernel has none of the events faulttui reads",
                           path=tracefs.root)
    if missing:
        reporter.warning("this kernel lacks " + ", ".join(missing_names) + "; recording the rest")
    split = any(event.buffer.feeds(Buffer.SYSTEM) for event in present)
    if split and not tracefs.has_instances():
        reporter.warning("no tracing instances on this kernel: recording system-wide "
                         "(no pid filter) so that block and mmap_lock events of other tasks are kept")
        return Plan(in_one_buffer(present), missing_names, False, {}, pid_filter=False)
    filters: dict[str, str] = {}
    mmap_lock = [e for e in present if e.group == "mmap_lock" and e.buffer.feeds(Buffer.SYSTEM)]
    if mmap_lock:
        expression = _mmap_lock_filter(tracefs, pid or os.getpid(), reporter)
        if expression is None:
            present = tuple(TraceEvent(e.group, e.name, Buffer.PROCESS, e.optional)
                            if e in mmap_lock else e for e in present)
        else:
            filters = {event.spec: expression for event in mmap_lock}
    return Plan(present, missing_names, split, filters, pid_filter=not system_wide)


def _mmap_lock_filter(tracefs: TraceFs, pid: int, reporter: Reporter) -> str | None:
    """Filter for the unfiltered buffer's mmap_lock events: the target's memory cgroup."""
    cgroup = memory_cgroup_of(pid)
    format_file = "events/mmap_lock/mmap_lock_start_locking/format"
    expression = None
    if cgroup is not None and tracefs.exists(format_file):
        expression = mmap_lock_filter(tracefs.read(format_file), cgroup)
    if expression is None:
        reporter.warning("cannot tell the target's memory cgroup: mmap_lock events of other "
                         "tasks locking the target's mm (khugepaged, /proc readers) are not recorded")
    elif cgroup is not None and cgroup.is_root:
        reporter.warning("the target is in the root memory cgroup: mmap_lock events of "
                         "every process there are recorded; run it in its own cgroup (see --help)")
    return expression
