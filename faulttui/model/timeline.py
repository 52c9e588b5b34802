"""The timeline model shared by the reconstruction of a recorded trace and by every replay.

Pure data (frozen dataclasses, integer nanoseconds); no I/O and no parsing here. The
records a trace has by the hundred thousand (Fault, Attempt, LockHold, IoRequest, FilePage,
TrylockFailure) are NamedTuples: as immutable, but several times cheaper to build and to
load from the reconstruction cache. A
`Timeline` is what the TUI draws, what the metrics are computed from, and what a replay
produces, so a recording and a what-if compare field by field.
"""

from __future__ import annotations

import enum
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple


class SpanState(enum.IntEnum):
    """What a thread is doing during a span (DESIGN.md "Timeline model")."""

    USER = 0  # running outside any fault or traced syscall
    FAULT_VMA = 1  # in a fault attempt holding the per-VMA read lock
    FAULT_MMAP_READ = 2  # in a fault attempt holding mmap_lock for read
    WAIT_MMAP_READ = 3  # waiting to acquire mmap_lock for read
    WAIT_MMAP_WRITE = 4  # waiting to acquire mmap_lock for write
    HOLD_MMAP_WRITE = 5  # holding mmap_lock for write (mmap, munmap, mprotect, ...)
    IO_WAIT = 6  # sleeping for I/O with the fault's lock dropped
    IO_WAIT_HOLDING_VMA = 7  # sleeping for I/O holding the VMA lock (hold-vma policy)
    IO_WAIT_HOLDING_MMAP = 8  # sleeping for I/O holding mmap_lock read (TRIED retry, hold policies)
    RUNNABLE = 9  # woken, waiting for a CPU
    SLEEP = 10  # sleeping outside a fault
    HOLD_MMAP_READ = 11  # holding mmap_lock for read outside a fault (a syscall)
    SYSCALL = 12  # in a traced mmap-family syscall, not holding mmap_lock

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]


_STATE_LABELS = {
    SpanState.USER: "user",
    SpanState.FAULT_VMA: "fault:vma",
    SpanState.FAULT_MMAP_READ: "fault:mmap-read",
    SpanState.WAIT_MMAP_READ: "wait:mmap-read",
    SpanState.WAIT_MMAP_WRITE: "wait:mmap-write",
    SpanState.HOLD_MMAP_WRITE: "hold:mmap-write",
    SpanState.IO_WAIT: "io-wait",
    SpanState.IO_WAIT_HOLDING_VMA: "io-wait:holding-vma",
    SpanState.IO_WAIT_HOLDING_MMAP: "io-wait:holding-mmap",
    SpanState.RUNNABLE: "runnable",
    SpanState.SLEEP: "sleep",
    SpanState.HOLD_MMAP_READ: "hold:mmap-read",
    SpanState.SYSCALL: "syscall",
}


@dataclass(frozen=True, slots=True)
class Span:
    start_ns: int
    end_ns: int
    state: SpanState


@dataclass(frozen=True, slots=True)
class ThreadLane:
    """One thread: identity plus its spans as parallel arrays (sorted, never overlapping).

    `prio` is the kernel priority as sched_switch prints it (lower number = higher priority).
    """

    tid: int
    tgid: int
    comm: str
    prio: int
    span_starts: array[int] = field(default_factory=lambda: array("q"))
    span_ends: array[int] = field(default_factory=lambda: array("q"))
    span_states: array[int] = field(default_factory=lambda: array("B"))

    def spans(self) -> Iterator[Span]:
        for start, end, state in zip(self.span_starts, self.span_ends, self.span_states, strict=True):
            yield Span(start, end, SpanState(state))

    def __len__(self) -> int:
        return len(self.span_starts)


class FilePage(NamedTuple):
    """A page-cache page: device, inode and byte offset (as mm_filemap_fault prints them)."""

    dev: str
    ino: int
    ofs: int


class AttemptLock(enum.StrEnum):
    VMA = "vma"
    MMAP_READ = "mmap-read"


class AttemptOutcome(enum.StrEnum):
    DONE = "done"  # the attempt finished the fault
    FALLBACK = "fallback"  # the VMA lock could not be taken (or was given up before any sleep)
    RETRY = "retry"  # the lock was dropped to wait for I/O (VM_FAULT_RETRY)
    UNFINISHED = "unfinished"  # the trace ended first


class Attempt(NamedTuple):
    """One handle_mm_fault() attempt of a fault and the lock it ran under."""

    lock: AttemptLock
    start_ns: int
    end_ns: int
    outcome: AttemptOutcome
    lock_wait_ns: int = 0  # waiting for mmap_lock before the attempt could run
    trylock_failed: bool = False  # a read trylock failed before the blocking lock
    io_wait_held_ns: int = 0  # time asleep for I/O while still holding this attempt's lock


class RetryReason(enum.StrEnum):
    IO = "io"  # the faulting thread issued the read itself
    FOLIO_LOCK = "folio-lock"  # slept without issuing I/O: the folio was locked by someone else


class Fault(NamedTuple):
    """One user page fault (one `page_fault_user`), from entry to return to user space.

    The `window_*` flags follow DESIGN.md's fault-window counting rule (`faulttui info`); the
    rest is the richer reconstruction.
    """

    fault_id: int
    tid: int
    mm: str
    start_ns: int
    end_ns: int
    address: int
    ip: int = 0
    error_code: int = 0
    vma_id: int = -1
    page: FilePage | None = None
    attempts: tuple[Attempt, ...] = ()
    io_requests: int = 0
    io_latency_ns: int = 0  # sum of issue->complete of the block requests this fault issued
    io_wait_ns: int = 0  # time asleep in D during the fault, lock dropped or held
    cpu_ns: int = 0  # time on CPU inside the fault (not asleep, not waiting for a lock)
    retry_lock: AttemptLock | None = None
    retry_reason: RetryReason | None = None
    refault: bool = False  # the retry found the page evicted and read it again
    window_io_sleep: bool = False
    window_retry_mmap: bool = False
    window_mmap_fallback: bool = False
    window_vma_only: bool = False
    lines: tuple[int, ...] = ()  # source lines (or packet offsets) of this thread's events

    @property
    def latency_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def major(self) -> bool:
        return self.io_requests > 0 or self.io_wait_ns > 0

    @property
    def retried(self) -> bool:
        return self.retry_lock is not None

    @property
    def vma_fallback(self) -> bool:
        return any(a.outcome is AttemptOutcome.FALLBACK for a in self.attempts)


class LockHold(NamedTuple):
    """One successful acquisition of an mm's mmap_lock, from request to release.

    `request_ns == acquired_ns` for a trylock or a downgrade. `released_ns` is the trace end
    when the release was not seen (`released` is then False).
    """

    mm: str
    tid: int
    write: bool
    request_ns: int
    acquired_ns: int
    released_ns: int
    released: bool = True
    trylock: bool = False
    downgrade: bool = False  # a read hold that began as mmap_write_downgrade()
    fault_id: int = -1
    purpose: str = "other"  # "fault-fallback" | "fault-retry" | "fault-nested" | "writer" | "other"
    contended_ns: int = 0  # sleeping portion of the wait (lock:contention_begin/end)

    @property
    def wait_ns(self) -> int:
        return self.acquired_ns - self.request_ns

    @property
    def hold_ns(self) -> int:
        return self.released_ns - self.acquired_ns


class TrylockFailure(NamedTuple):
    mm: str
    tid: int
    ts_ns: int
    write: bool
    fault_id: int = -1


@dataclass(frozen=True, slots=True)
class Vma:
    """A mapping: address range, what backs it, and how faulttui learned of it."""

    vma_id: int
    mm: str
    start: int
    end: int
    kind: str  # "anon" | "file" | "unknown"
    path: str = ""
    source: str = "syscall"  # "syscall" | "maps" | "clustered"

    def contains(self, address: int) -> bool:
        return self.start <= address < self.end


@dataclass(frozen=True, slots=True)
class WriterOp:
    """A syscall (or fork) that takes mmap_lock for writing, with its address range."""

    tid: int
    op: str  # "mmap" | "munmap" | "mprotect" | "madvise" | "brk" | "mremap" | "fork"
    start_ns: int
    end_ns: int
    addr: int = 0
    length: int = 0
    ret: int | None = None
    mmap_write_wait_ns: int = 0
    mmap_write_hold_ns: int = 0
    downgraded: bool = False
    vma_ids: tuple[int, ...] = ()  # VMAs it write-locks

    @property
    def latency_ns(self) -> int:
        return self.end_ns - self.start_ns


class IoRequest(NamedTuple):
    tid: int  # task in whose context the request was issued
    issue_ns: int
    complete_ns: int  # -1 when the completion was not seen
    sector: int
    nbytes: int
    fault_id: int = -1

    @property
    def latency_ns(self) -> int:
        return self.complete_ns - self.issue_ns if self.complete_ns >= 0 else 0


@dataclass(frozen=True, slots=True)
class Timeline:
    """Everything faulttui knows about one run: a recording, or a replay under a policy."""

    name: str  # "recording" or a policy id
    start_ns: int
    end_ns: int
    threads: tuple[ThreadLane, ...]
    faults: Sequence[Fault]  # a tuple, or a replay's FaultTable (fault_table.py)
    mmap_lock_holds: tuple[LockHold, ...]
    trylock_failures: tuple[TrylockFailure, ...] = ()
    writer_ops: tuple[WriterOp, ...] = ()
    vmas: tuple[Vma, ...] = ()
    vma_source: str = "none"  # "syscalls" | "maps" | "clustered" | "none" (+ combinations)
    io_requests: tuple[IoRequest, ...] = ()
    evictions: int = 0  # page-cache deletions seen (mm_filemap_delete_from_page_cache)

    def thread(self, tid: int) -> ThreadLane | None:
        for lane in self.threads:
            if lane.tid == tid:
                return lane
        return None
