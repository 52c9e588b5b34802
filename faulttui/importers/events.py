"""The normalized event record every importer produces and every later stage reads.

One `Event` per trace event, whatever the source (raw tracefs text, `trace-cmd report`,
a Perfetto protobuf, a synthetic workload's simulated run). Timestamps are integer
nanoseconds. `fields` holds the typed fields of the tracepoints in `FIELD_TYPES`; an
event faulttui does not model keeps its text as `fields["raw"]` and is still counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

UNKNOWN_TGID = -1

# Field types per tracepoint (the name as in tracefs events/<group>/<name>).
# bool fields come as true/false in text and 0/1 in Perfetto; both normalize to bool.
# "mm" and lock addresses are opaque identities (hashed %p in tracefs, raw pointers elsewhere).
FIELD_TYPES: dict[str, dict[str, type]] = {
    "page_fault_user": {"address": int, "ip": int, "error_code": int},
    "mmap_lock_start_locking": {"mm": str, "memcg": str, "write": bool},
    "mmap_lock_acquire_returned": {"mm": str, "memcg": str, "write": bool, "success": bool},
    "mmap_lock_released": {"mm": str, "memcg": str, "write": bool},
    "mm_filemap_fault": {"dev": str, "ino": int, "ofs": int},
    "mm_filemap_add_to_page_cache": {"dev": str, "ino": int, "pfn": int, "ofs": int, "order": int},
    "mm_filemap_delete_from_page_cache": {"dev": str, "ino": int, "pfn": int, "ofs": int, "order": int},
    "sched_switch": {
        "prev_comm": str, "prev_pid": int, "prev_prio": int, "prev_state": str,
        "next_comm": str, "next_pid": int, "next_prio": int,
    },
    "sched_waking": {"comm": str, "pid": int, "prio": int, "target_cpu": int},
    "block_rq_issue": {
        "dev": str, "rwbs": str, "bytes": int, "cmd": str, "sector": int, "nr_sector": int,
        "ioprio": str, "comm": str,
    },
    "block_rq_complete": {
        "dev": str, "rwbs": str, "cmd": str, "sector": int, "nr_sector": int, "ioprio": str,
        "error": int,
    },
    "contention_begin": {"lock": str, "flags": str},
    "contention_end": {"lock": str, "ret": int},
    "mm_vmscan_direct_reclaim_begin": {"order": int, "gfp_flags": str},
    "mm_vmscan_direct_reclaim_end": {"nr_reclaimed": int},
    "mm_vmscan_memcg_reclaim_begin": {"order": int, "gfp_flags": str},
    "mm_vmscan_memcg_reclaim_end": {"nr_reclaimed": int},
}

# Syscalls that take mmap_lock for writing; each has sys_enter_<name> (its arguments as
# int fields named as the kernel prints them) and sys_exit_<name> (field "ret", signed).
WRITER_SYSCALLS: tuple[str, ...] = ("mmap", "munmap", "mprotect", "madvise", "brk", "mremap")
# Syscalls that create a task: a fork (a clone without CLONE_VM) write-locks the caller's mm,
# a thread (CLONE_VM) does not; see reconstruct.py for which ones count as writers.
CLONE_SYSCALLS: tuple[str, ...] = ("clone", "clone3", "fork", "vfork")
for _syscall in WRITER_SYSCALLS + CLONE_SYSCALLS:
    FIELD_TYPES[f"sys_enter_{_syscall}"] = {}  # argument names vary by syscall; all int
    FIELD_TYPES[f"sys_exit_{_syscall}"] = {"ret": int}
del _syscall


class Event(NamedTuple):
    """One normalized trace event.

    `line` is the 1-based line number in the (decompressed) source text, or 0 when the
    source has no lines (Perfetto, synthetic); `offset` is the byte offset of that line
    in the decompressed text (or the packet offset), so a viewer can read the raw line back.
    """

    ts_ns: int
    cpu: int
    tid: int
    tgid: int
    comm: str
    name: str
    fields: dict[str, Any]
    line: int = 0
    offset: int = 0


@dataclass(frozen=True, slots=True)
class MapsEntry:
    """One line of a /proc/PID/maps snapshot taken by `faulttui record`."""

    pid: int
    ts_ns: int
    start: int
    end: int
    perms: str
    offset: int
    dev: str
    inode: int
    path: str


@dataclass(slots=True)
class ImportStats:
    """What an importer saw besides the events: filled in while the event stream runs."""

    path: str
    format: str = "unknown"
    events: int = 0
    event_counts: dict[str, int] = field(default_factory=dict)
    lost_events: int = 0
    lost_markers: int = 0
    unknown_events: int = 0
    unparsed_lines: int = 0
    warning_count: int = 0
    warnings: list[str] = field(default_factory=list)
    maps: list[MapsEntry] = field(default_factory=list)
    out_of_order: int = 0

    MAX_WARNINGS_KEPT = 50

    def warn(self, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < self.MAX_WARNINGS_KEPT:
            self.warnings.append(message)
