"""The tracepoints `faulttui record` enables, and in which ring buffer each one goes.

`set_event_pid` filters every event of a tracing directory by the task running on the CPU
when the event fires (there is no per-event exemption). Two kernel details decide the split:

* sched_switch and sched_waking get the kernel's own pid probes: sched_switch is kept when
  either `prev` or `next` is a filtered task, sched_waking when the waker or the wakee is.
  So the target's switches in and out and its wakeups survive the filter.
* Events that fire in another task's context are dropped: `block_rq_complete` runs in
  the completion interrupt (often on an idle CPU, where `current` is swapper), a request
  may be issued from a kworker (blk-mq dispatch), kswapd evicts the target's page cache
  pages, and khugepaged, /proc readers or reclaim walkers take the target's `mmap_lock`.
  A trial on kernel 6.18 kept 98 of 1155 block_rq_complete events under the filter.

So a second buffer (a tracing instance) without the pid filter records those events, and
the recorder merges it in by timestamp. The text prints microseconds only, and about one
event in ten shares its microsecond with an event of the other buffer, so the merge cannot
order a thread's own events across buffers. Hence every event the target's tasks fire
comes from the pid-filtered buffer (kernel order, exact), and the unfiltered one only adds
what other tasks did: events in `Buffer.BOTH` are enabled in both buffers, and the merge
drops the unfiltered copies of the target's tids. `block_rq_complete` (interrupt context,
whoever is current) goes to the unfiltered buffer alone. Unfiltered mmap_lock events are
too many on a busy machine (39k/s here from unrelated processes), so that copy is filtered
on the target's memory cgroup (`memcg.py`): every lock operation on its mm, whoever does it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from faulttui.capture.tracefs import TraceFs


class Buffer(enum.Enum):
    """Where an event is enabled."""

    PROCESS = "process"  # top level, filtered to the target's tasks by set_event_pid
    SYSTEM = "system"  # an instance without a pid filter
    BOTH = "both"  # both; the merge keeps the instance's copies of other tasks only

    def feeds(self, buffer: Buffer) -> bool:
        return self is buffer or self is Buffer.BOTH


@dataclass(frozen=True, slots=True)
class TraceEvent:
    group: str
    name: str
    buffer: Buffer
    # only some architectures have it (x86_64 has sys_fork and sys_vfork, arm64 has not): a
    # kernel without it records the rest without a warning, also under --strict
    optional: bool = False

    @property
    def spec(self) -> str:
        """As in `set_event` and in messages: group:name."""
        return f"{self.group}:{self.name}"

    @property
    def enable_file(self) -> str:
        return f"events/{self.group}/{self.name}/enable"

    @property
    def filter_file(self) -> str:
        return f"events/{self.group}/{self.name}/filter"


_WRITER_SYSCALLS = ("mmap", "munmap", "mprotect", "madvise", "brk", "mremap")
# A fork (clone without CLONE_VM; a clone3 that write-locks the mm) is a writer too. The new
# task's own `sys_clone -> 0x0` is recorded as well (event-fork adds it to the pid filter).
_CLONE_SYSCALLS = ("clone", "clone3")
_ARCH_CLONE_SYSCALLS = ("fork", "vfork")  # musl's fork() is SYS_fork where it exists


def _catalogue() -> tuple[TraceEvent, ...]:
    process, system, both = Buffer.PROCESS, Buffer.SYSTEM, Buffer.BOTH
    events = [
        TraceEvent("exceptions", "page_fault_user", process),
        TraceEvent("mmap_lock", "mmap_lock_start_locking", both),
        TraceEvent("mmap_lock", "mmap_lock_acquire_returned", both),
        TraceEvent("mmap_lock", "mmap_lock_released", both),
        TraceEvent("filemap", "mm_filemap_fault", process),
        TraceEvent("filemap", "mm_filemap_add_to_page_cache", process),
        TraceEvent("filemap", "mm_filemap_delete_from_page_cache", both),
        TraceEvent("sched", "sched_switch", process),
        TraceEvent("sched", "sched_waking", process),
        TraceEvent("block", "block_rq_issue", both),
        TraceEvent("block", "block_rq_complete", system),
        TraceEvent("lock", "contention_begin", process),
        TraceEvent("lock", "contention_end", process),
    ]
    for syscall in _WRITER_SYSCALLS + _CLONE_SYSCALLS:
        events.append(TraceEvent("syscalls", f"sys_enter_{syscall}", process))
        events.append(TraceEvent("syscalls", f"sys_exit_{syscall}", process))
    for syscall in _ARCH_CLONE_SYSCALLS:
        for edge in ("enter", "exit"):
            events.append(TraceEvent("syscalls", f"sys_{edge}_{syscall}", process, optional=True))
    for kind in ("direct", "memcg"):
        for edge in ("begin", "end"):
            events.append(TraceEvent("vmscan", f"mm_vmscan_{kind}_reclaim_{edge}", process))
    return tuple(events)


RECORDED_EVENTS: tuple[TraceEvent, ...] = _catalogue()


def in_one_buffer(events: tuple[TraceEvent, ...]) -> tuple[TraceEvent, ...]:
    """The same events, all in the top-level buffer (no pid filter, no instance)."""
    return tuple(TraceEvent(event.group, event.name, Buffer.PROCESS, event.optional)
                 for event in events)


def split_available(
    tracefs: TraceFs, events: tuple[TraceEvent, ...]
) -> tuple[tuple[TraceEvent, ...], tuple[TraceEvent, ...]]:
    """(events this kernel has, events it lacks), by the presence of their enable file."""
    present = tuple(event for event in events if tracefs.exists(event.enable_file))
    missing = tuple(event for event in events
                    if not event.optional and not tracefs.exists(event.enable_file))
    return present, missing


def event_category(name: str) -> str:
    """A short family name for the summary line (raw tracefs prints syscalls as sys_<name>)."""
    if name.startswith("mmap_lock_"):
        return "mmap_lock"
    if name.startswith("sched_"):
        return "sched"
    if name.startswith("block_rq_"):
        return "block"
    if name.startswith("mm_filemap_"):
        return "filemap"
    if name.startswith("mm_vmscan_"):
        return "reclaim"
    if name.startswith("contention_"):
        return "lock contention"
    if name.startswith("sys_"):
        return "syscalls"
    if name == "page_fault_user":
        return "page faults"
    return "other"
