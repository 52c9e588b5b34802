"""Table-driven state-machine tests of the reconstruction, from tiny hand-written tracefs traces.

Each scenario is one rule of DOMAIN.md / DESIGN.md ("Fault window" counting rules, the stock
fault path, rwsem rules). For each we check the `faulttui info --json` counts, the Fault
records (attempts' locks and outcomes, retry lock, latency) and the mmap_lock holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import MM, OTHER_MM, ThreadScript, lock_body, merge_by_timestamp, write_trace

from faulttui.analysis.load import Recording, load_recording
from faulttui.model.timeline import AttemptLock, AttemptOutcome, RetryReason

T0 = 377_000_000.0  # µs: every scenario starts at 377 s, as the real traces do
US = 1_000  # ns

VMA, MMAP = AttemptLock.VMA, AttemptLock.MMAP_READ
DONE, FALLBACK, RETRY = AttemptOutcome.DONE, AttemptOutcome.FALLBACK, AttemptOutcome.RETRY
UNFINISHED = AttemptOutcome.UNFINISHED
# glibc fork(): CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD; pthread_create() via
# clone: CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
# CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID (as 6.18's raw tracefs prints them)
FORK_ARGS = "clone_flags: 0x1200011, newsp: 0, parent_tidptr: 0, child_tidptr: 0x7f86e4a2ba10, tls: 0"
THREAD_ARGS = ("clone_flags: 0x3d0f00, newsp: 0x7f86e3fff8f0, parent_tidptr: 0x7f86e40009d0, "
               "child_tidptr: 0x7f86e40009d0, tls: 0x7f86e4000700")
CLONE3_ARGS = "uargs: 0x7ffd85919030, size: 0x58"
CHILD = 8190
READ_CONTENTION = ("contention_begin", "00000000861d28b1 (flags=READ)")
CONTENTION_END = ("contention_end", "00000000861d28b1 (ret=0)")


def counts(*, total: int = 1, threads: int = 1, io_sleep: int = 0, retry_mmap: int = 0,
           mmap_fallback: int = 0, vma_only: int = 0, read: int = 0, write: int = 0,
           trylock_failed: int = 0, downgrades: int = 0) -> dict[str, object]:
    """The contract part of `info --json` (faults + mmap_lock) with zeros by default."""
    return {
        "faults": {"total": total, "threads": threads, "io_sleep": io_sleep,
                   "retry_mmap": retry_mmap, "mmap_fallback": mmap_fallback,
                   "vma_only": vma_only},
        "mmap_lock": {"acquisitions": {"read": read, "write": write},
                      "trylock_failed": trylock_failed, "downgrades": downgrades},
    }


@dataclass(frozen=True)
class FaultExpectation:
    tid: int
    attempts: tuple[tuple[AttemptLock, AttemptOutcome], ...]
    retry_lock: AttemptLock | None
    latency_us: int
    retry_reason: RetryReason | None = None
    io_wait_us: int = 0
    lock_wait_us: tuple[int, ...] | None = None  # per attempt, when checked


@dataclass(frozen=True)
class HoldExpectation:
    tid: int
    write: bool
    wait_us: int
    hold_us: int
    purpose: str
    trylock: bool = False
    downgrade: bool = False
    released: bool = True


@dataclass(frozen=True)
class Scenario:
    build: Callable[[], list[str]]
    info: dict[str, object]
    faults: tuple[FaultExpectation, ...]
    holds: tuple[HoldExpectation, ...] = ()


# --- scenario builders (each returns the trace lines) --------------------------------------

def vma_only_minor_fault() -> list[str]:
    """A fault served from the page cache under the VMA lock: no mmap_lock event at all."""
    thread = ThreadScript(8169).at(T0).fault().filemap()
    thread.event("mm_filemap_add_to_page_cache",
                 "dev 254:0 ino 20c051 pfn=0x1538f5 ofs=260059136 order=0")
    thread.at(T0 + 10).fault(0x7F86E3A04000)
    return thread.lines


def vma_lock_fallback() -> list[str]:
    """VMA lock unavailable: start_locking write=false before any sleep."""
    return ThreadScript(8169).at(T0).fault().start_locking().acquire().release().lines


def io_retry_under_mmap_lock() -> list[str]:
    """The typical major fault of DOMAIN.md: drop the VMA lock, sleep in D, retry on mmap_lock."""
    thread = ThreadScript(8169).at(T0).fault().filemap().block_issue().switch_out("D")
    thread.at(T0 + 103).switch_in().start_locking().acquire().release()
    return thread.lines


def folio_lock_retry() -> list[str]:
    """Slept in D without issuing I/O itself (someone else's read holds the folio lock)."""
    thread = ThreadScript(8169).at(T0).fault().filemap().switch_out("D")
    thread.at(T0 + 50).switch_in().start_locking().acquire().release()
    return thread.lines


def retry_reads_again_holding_mmap_lock() -> list[str]:
    """FAULT_FLAG_TRIED: the retry finds the page gone and waits for I/O holding mmap_lock."""
    thread = ThreadScript(8169).at(T0).fault().filemap().block_issue().switch_out("D")
    thread.at(T0 + 100).switch_in().start_locking().acquire()
    thread.filemap().block_issue(47366176).switch_out("D")
    thread.at(T0 + 200).switch_in().release()
    return thread.lines


def fallback_attempt_drops_mmap_lock_for_io() -> list[str]:
    """The fallback attempt (under mmap_lock) drops it for I/O, then retries under it again."""
    thread = ThreadScript(8169).at(T0).fault().start_locking().acquire()
    thread.filemap().block_issue().release().switch_out("D")
    thread.at(T0 + 100).switch_in().start_locking().acquire().release()
    return thread.lines


def failed_trylock_then_blocking_lock() -> list[str]:
    """As in cold-8t-writer: trylock (start + fail), then the killable lock sleeps in D."""
    thread = ThreadScript(8169).at(T0).fault()
    thread.start_locking().acquire(success=False).start_locking()
    thread.event(*READ_CONTENTION).switch_out("D")
    thread.at(T0 + 30).switch_in().event(*CONTENTION_END).acquire().release()
    return thread.lines


def bare_failed_trylock_then_lock() -> list[str]:
    """A failed read trylock with no start_locking before it, then a lock taken at once."""
    thread = ThreadScript(8169).at(T0).fault()
    return thread.acquire(success=False).start_locking().acquire().release().lines


def munmap_with_downgrade() -> list[str]:
    """munmap: write lock, mmap_write_downgrade (acquire_returned write=false, no start)."""
    thread = ThreadScript(8163).at(T0)
    thread.syscall("munmap", "addr: 0x7f86e43ec000, len: 0x8773", inside=[
        ("mmap_lock_start_locking", lock_body(True)),
        ("mmap_lock_acquire_returned", lock_body(True, True)),
        ("mmap_lock_acquire_returned", lock_body(False, True)),
        ("mmap_lock_released", lock_body(False)),
    ])
    return thread.fault().lines


def read_trylock_of_another_mm_while_writing() -> list[str]:
    """Holding mm A for write, a read trylock of mm B is a read acquisition, not a downgrade."""
    thread = ThreadScript(8142, comm="record.sh").at(T0)
    thread.syscall("mmap", "addr: 0x0, len: 0x1000, prot: 0x3, flags: 0x22, fd: -1, off: 0x0",
                   ret="0x7f86cf8f7000", inside=[
                       ("mmap_lock_start_locking", lock_body(True)),
                       ("mmap_lock_acquire_returned", lock_body(True, True)),
                       ("mmap_lock_acquire_returned", lock_body(False, True, mm=OTHER_MM)),
                       ("mmap_lock_released", lock_body(False, mm=OTHER_MM)),
                       ("mmap_lock_released", lock_body(True)),
                   ])
    return thread.fault().lines


def failed_write_trylock_in_a_syscall() -> list[str]:
    """mmap_write_trylock fails (success=false, write=true), then the blocking write lock."""
    thread = ThreadScript(8172).at(T0).fault()
    thread.syscall("madvise", "start: 0x7f86cf8f7000, len_in: 0x1000, behavior: 0x4", inside=[
        ("mmap_lock_start_locking", lock_body(True)),
        ("mmap_lock_acquire_returned", lock_body(True, False)),
        ("mmap_lock_start_locking", lock_body(True)),
        ("mmap_lock_acquire_returned", lock_body(True, True)),
        ("mmap_lock_released", lock_body(True)),
    ])
    return thread.lines


def nested_trylock_in_vma_fault() -> list[str]:
    """anon_vma preparation: a read trylock (no start_locking) inside a VMA-locked fault."""
    thread = ThreadScript(8169).at(T0).fault().acquire().release()
    return thread.at(T0 + 10).fault(0x7F86E3A04000).lines


def writer_blocks_readers() -> list[str]:
    """mprotect holds mmap_lock for write; a falling-back reader and a retrying reader queue."""
    writer = ThreadScript(8172, cpu=1).at(T0)
    writer.event("sys_enter_mprotect", "start: 0x7f86cf8f7000, len: 0x100000, prot: 0x1")
    writer.start_locking(True).acquire(True)
    writer.at(T0 + 50).release(True).event("sys_exit_mprotect", "0x0")
    fallback = ThreadScript(8169, cpu=0).at(T0 + 10).fault().start_locking()
    fallback.event(*READ_CONTENTION).switch_out("D")
    fallback.at(T0 + 52).switch_in().event(*CONTENTION_END).acquire()
    fallback.at(T0 + 60).release()
    retry = ThreadScript(8170, cpu=2).at(T0 + 20).fault().filemap().block_issue()
    retry.switch_out("D").at(T0 + 40).switch_in().start_locking()
    retry.event(*READ_CONTENTION).switch_out("D")
    retry.at(T0 + 55).switch_in().acquire().at(T0 + 58).release()
    return merge_by_timestamp(writer, fallback, retry)


def window_closes_at_next_fault() -> list[str]:
    """A D sleep belongs to the first fault's window; the second fault's lock to its own."""
    thread = ThreadScript(8169).at(T0).fault().filemap().block_issue().switch_out("D")
    thread.at(T0 + 100).switch_in()
    thread.at(T0 + 110).fault(0x7F86E3A04000).start_locking().acquire().release()
    return thread.lines


def window_closes_at_syscall_entry() -> list[str]:
    """A fault followed by mprotect: the syscall's write lock is outside the fault window."""
    thread = ThreadScript(8172).at(T0).fault().filemap()
    thread.at(T0 + 10).syscall("mprotect", "start: 0x7f86cf8f7000, len: 0x1000, prot: 0x1",
                               inside=[("mmap_lock_start_locking", lock_body(True)),
                                       ("mmap_lock_acquire_returned", lock_body(True, True)),
                                       ("mmap_lock_released", lock_body(True))])
    return thread.lines


def dup_mmap_section(mm: str = OTHER_MM) -> list[tuple[str, str]]:
    """dup_mmap: write-lock the caller's mm, then the child's new one (nested), unlock both."""
    return [("mmap_lock_start_locking", lock_body(True)),
            ("mmap_lock_acquire_returned", lock_body(True, True)),
            ("mmap_lock_start_locking", lock_body(True, mm=mm)),
            ("mmap_lock_acquire_returned", lock_body(True, True, mm=mm)),
            ("mmap_lock_released", lock_body(True, mm=mm)),
            ("mmap_lock_released", lock_body(True))]


def child_returns(syscall: str) -> ThreadScript:
    """The new task's first events: switched in, then its own return from the call (no entry)."""
    child = ThreadScript(CHILD, cpu=1).at(T0 + 20).switch_in()
    return child.event(f"sys_exit_{syscall}", "0x0")


def fork_by_clone() -> list[str]:
    """glibc fork(): clone without CLONE_VM, dup_mmap's write section inside, then a fault."""
    parent = ThreadScript(8163).at(T0)
    parent.syscall("clone", FORK_ARGS, ret=hex(CHILD), inside=dup_mmap_section())
    return merge_by_timestamp(parent.at(T0 + 30).fault(), child_returns("clone"))


def thread_by_clone() -> list[str]:
    """pthread_create() by clone with CLONE_VM: no writer, even with a read lock inside."""
    parent = ThreadScript(8163).at(T0)
    parent.syscall("clone", THREAD_ARGS, ret=hex(CHILD), inside=[
        ("mmap_lock_start_locking", lock_body(False)),
        ("mmap_lock_acquire_returned", lock_body(False, True)),
        ("mmap_lock_released", lock_body(False))])
    return merge_by_timestamp(parent.at(T0 + 30).fault(), child_returns("clone"))


def fork_by_clone3() -> list[str]:
    """clone3 (flags behind its pointer) that write-locks the caller's mm: a fork."""
    parent = ThreadScript(8163).at(T0)
    parent.syscall("clone3", CLONE3_ARGS, ret=hex(CHILD), inside=dup_mmap_section())
    return merge_by_timestamp(parent.at(T0 + 30).fault(), child_returns("clone3"))


def thread_by_clone3() -> list[str]:
    """glibc 2.34+ pthread_create(): clone3 with no mmap_lock write inside: no writer."""
    parent = ThreadScript(8163).at(T0).syscall("clone3", CLONE3_ARGS, ret=hex(CHILD))
    return merge_by_timestamp(parent.at(T0 + 30).fault(), child_returns("clone3"))


def fork_by_sys_fork() -> list[str]:
    """musl fork(): SYS_fork (no arguments, flags SIGCHLD): a fork like glibc's clone."""
    parent = ThreadScript(8163).at(T0)
    parent.syscall("fork", "", ret=hex(CHILD), inside=dup_mmap_section())
    return merge_by_timestamp(parent.at(T0 + 30).fault(), child_returns("fork"))


def vfork_call() -> list[str]:
    """vfork(): CLONE_VM | CLONE_VFORK, the child borrows the mm: no writer."""
    parent = ThreadScript(8163).at(T0).syscall("vfork", "", ret=hex(CHILD))
    return merge_by_timestamp(parent.at(T0 + 30).fault(), child_returns("vfork"))


def failed_fork() -> list[str]:
    """fork() failing with -EAGAIN before dup_mmap: still a fork call, like a failed mmap."""
    parent = ThreadScript(8163).at(T0).syscall("clone", FORK_ARGS, ret="0xfffffffffffffff5")
    return parent.at(T0 + 30).fault().lines


def hold_open_at_trace_end() -> list[str]:
    """The trace ends while the retry still holds mmap_lock."""
    thread = ThreadScript(8169).at(T0).fault().filemap().block_issue().switch_out("D")
    thread.at(T0 + 50).switch_in().start_locking().acquire()
    return thread.lines


def other_thread_sleep_is_not_mine() -> list[str]:
    """Another thread's D sleep must not count for this thread's window."""
    mine = ThreadScript(8169, cpu=0).at(T0).fault().filemap()
    other = ThreadScript(8170, cpu=1).at(T0 + 1).switch_out("D")
    mine.at(T0 + 5).start_locking().acquire().release()
    return merge_by_timestamp(mine, other)


SCENARIOS = {
    "vma-only": Scenario(
        vma_only_minor_fault,
        counts(total=2, vma_only=2),
        (FaultExpectation(8169, ((VMA, DONE),), None, latency_us=1),
         FaultExpectation(8169, ((VMA, DONE),), None, latency_us=0)),
    ),
    "fallback": Scenario(
        vma_lock_fallback,
        counts(mmap_fallback=1, read=1),
        (FaultExpectation(8169, ((VMA, FALLBACK), (MMAP, DONE)), None, latency_us=3,
                          lock_wait_us=(0, 1)),),
        (HoldExpectation(8169, False, wait_us=1, hold_us=1, purpose="fault-fallback"),),
    ),
    "io-retry": Scenario(
        io_retry_under_mmap_lock,
        counts(io_sleep=1, retry_mmap=1, read=1),
        (FaultExpectation(8169, ((VMA, RETRY), (MMAP, DONE)), MMAP, latency_us=106,
                          retry_reason=RetryReason.IO, io_wait_us=100, lock_wait_us=(0, 1)),),
        (HoldExpectation(8169, False, wait_us=1, hold_us=1, purpose="fault-retry"),),
    ),
    "folio-lock-retry": Scenario(
        folio_lock_retry,
        counts(io_sleep=1, retry_mmap=1, read=1),
        (FaultExpectation(8169, ((VMA, RETRY), (MMAP, DONE)), MMAP, latency_us=53,
                          retry_reason=RetryReason.FOLIO_LOCK, io_wait_us=48),),
        (HoldExpectation(8169, False, wait_us=1, hold_us=1, purpose="fault-retry"),),
    ),
    "tried-retry-second-io": Scenario(
        retry_reads_again_holding_mmap_lock,
        counts(io_sleep=1, retry_mmap=1, read=1),
        (FaultExpectation(8169, ((VMA, RETRY), (MMAP, DONE)), MMAP, latency_us=201,
                          retry_reason=RetryReason.IO, io_wait_us=97 + 95),),
        (HoldExpectation(8169, False, wait_us=1, hold_us=99, purpose="fault-retry"),),
    ),
    "fallback-then-io-retry": Scenario(
        fallback_attempt_drops_mmap_lock_for_io,
        counts(io_sleep=1, retry_mmap=1, mmap_fallback=1, read=2),
        (FaultExpectation(8169, ((VMA, FALLBACK), (MMAP, RETRY), (MMAP, DONE)), MMAP,
                          latency_us=103, retry_reason=RetryReason.IO, io_wait_us=94,
                          lock_wait_us=(0, 1, 1)),),
        (HoldExpectation(8169, False, wait_us=1, hold_us=3, purpose="fault-fallback"),
         HoldExpectation(8169, False, wait_us=1, hold_us=1, purpose="fault-retry")),
    ),
    "failed-trylock-then-lock": Scenario(
        failed_trylock_then_blocking_lock,
        # the window rule: fallback (read lock started before any D sleep), and the D sleep
        # waiting for the rwsem counts as io_sleep, the acquisition after it as retry_mmap
        # (DESIGN.md: for a recording, metrics' retries.mmap is that retry_mmap, so the Fault
        # record's retry_lock follows the window rule too; no attempt was dropped for I/O)
        counts(io_sleep=1, retry_mmap=1, mmap_fallback=1, read=1, trylock_failed=1),
        (FaultExpectation(8169, ((VMA, FALLBACK), (MMAP, DONE)), MMAP, latency_us=33,
                          lock_wait_us=(0, 29)),),
        (HoldExpectation(8169, False, wait_us=29, hold_us=1, purpose="fault-retry"),),
    ),
    "bare-failed-trylock": Scenario(
        bare_failed_trylock_then_lock,
        counts(mmap_fallback=1, read=1, trylock_failed=1),
        (FaultExpectation(8169, ((VMA, FALLBACK), (MMAP, DONE)), None, latency_us=4),),
        (HoldExpectation(8169, False, wait_us=1, hold_us=1, purpose="fault-fallback"),),
    ),
    "downgrade": Scenario(
        munmap_with_downgrade,
        counts(vma_only=1, write=1, downgrades=1),
        (FaultExpectation(8163, ((VMA, DONE),), None, latency_us=0),),
        (HoldExpectation(8163, True, wait_us=1, hold_us=1, purpose="writer"),
         HoldExpectation(8163, False, wait_us=0, hold_us=1, purpose="writer", downgrade=True)),
    ),
    "read-trylock-other-mm": Scenario(
        read_trylock_of_another_mm_while_writing,
        counts(vma_only=1, read=1, write=1),
        (FaultExpectation(8142, ((VMA, DONE),), None, latency_us=0),),
        (HoldExpectation(8142, True, wait_us=1, hold_us=3, purpose="writer"),
         HoldExpectation(8142, False, wait_us=0, hold_us=1, purpose="writer", trylock=True)),
    ),
    "failed-write-trylock": Scenario(
        failed_write_trylock_in_a_syscall,
        # a failed *write* trylock counts in trylock_failed but is no VMA-lock fallback
        counts(vma_only=1, write=1, trylock_failed=1),
        (FaultExpectation(8172, ((VMA, DONE),), None, latency_us=0),),
        (HoldExpectation(8172, True, wait_us=1, hold_us=1, purpose="writer"),),
    ),
    "nested-trylock": Scenario(
        nested_trylock_in_vma_fault,
        # not a fallback (no start_locking, no failed trylock) and not vma_only (a lock event)
        counts(total=2, vma_only=1, read=1),
        (FaultExpectation(8169, ((VMA, DONE),), None, latency_us=2),
         FaultExpectation(8169, ((VMA, DONE),), None, latency_us=0)),
        (HoldExpectation(8169, False, wait_us=0, hold_us=1, purpose="fault-nested",
                         trylock=True),),
    ),
    "writer-blocks-readers": Scenario(
        writer_blocks_readers,
        counts(total=2, threads=2, io_sleep=2, retry_mmap=2, mmap_fallback=1, read=2, write=1),
        (FaultExpectation(8169, ((VMA, FALLBACK), (MMAP, DONE)), MMAP, latency_us=50,
                          lock_wait_us=(0, 43)),
         FaultExpectation(8170, ((VMA, RETRY), (MMAP, DONE)), MMAP, latency_us=38,
                          retry_reason=RetryReason.IO, io_wait_us=17, lock_wait_us=(0, 15))),
        (HoldExpectation(8172, True, wait_us=1, hold_us=48, purpose="writer"),
         HoldExpectation(8169, False, wait_us=43, hold_us=6, purpose="fault-retry"),
         HoldExpectation(8170, False, wait_us=15, hold_us=2, purpose="fault-retry")),
    ),
    "window-closes-at-next-fault": Scenario(
        window_closes_at_next_fault,
        # the first window has a D sleep but no mmap_lock event: io_sleep and vma_only
        counts(total=2, io_sleep=1, mmap_fallback=1, vma_only=1, read=1),
        (FaultExpectation(8169, ((VMA, RETRY),), None, latency_us=100,
                          retry_reason=RetryReason.IO, io_wait_us=97),
         FaultExpectation(8169, ((VMA, FALLBACK), (MMAP, DONE)), None, latency_us=3)),
        (HoldExpectation(8169, False, wait_us=1, hold_us=1, purpose="fault-fallback"),),
    ),
    "window-closes-at-syscall": Scenario(
        window_closes_at_syscall_entry,
        counts(vma_only=1, write=1),
        (FaultExpectation(8172, ((VMA, DONE),), None, latency_us=1),),
        (HoldExpectation(8172, True, wait_us=1, hold_us=1, purpose="writer"),),
    ),
    "fork-clone": Scenario(
        fork_by_clone,
        counts(vma_only=1, write=2),
        (FaultExpectation(8163, ((VMA, DONE),), None, latency_us=0),),
        (HoldExpectation(8163, True, wait_us=1, hold_us=4, purpose="writer"),
         HoldExpectation(8163, True, wait_us=1, hold_us=1, purpose="writer")),
    ),
    "thread-clone": Scenario(
        thread_by_clone,
        counts(vma_only=1, read=1),
        (FaultExpectation(8163, ((VMA, DONE),), None, latency_us=0),),
        (HoldExpectation(8163, False, wait_us=1, hold_us=1, purpose="other"),),
    ),
    "fork-clone3": Scenario(
        fork_by_clone3,
        counts(vma_only=1, write=2),
        (FaultExpectation(8163, ((VMA, DONE),), None, latency_us=0),),
        (HoldExpectation(8163, True, wait_us=1, hold_us=4, purpose="writer"),
         HoldExpectation(8163, True, wait_us=1, hold_us=1, purpose="writer")),
    ),
    "thread-clone3": Scenario(
        thread_by_clone3,
        counts(vma_only=1),
        (FaultExpectation(8163, ((VMA, DONE),), None, latency_us=0),),
    ),
    "fork-sys-fork": Scenario(
        fork_by_sys_fork,
        counts(vma_only=1, write=2),
        (FaultExpectation(8163, ((VMA, DONE),), None, latency_us=0),),
        (HoldExpectation(8163, True, wait_us=1, hold_us=4, purpose="writer"),
         HoldExpectation(8163, True, wait_us=1, hold_us=1, purpose="writer")),
    ),
    "vfork": Scenario(
        vfork_call,
        counts(vma_only=1),
        (FaultExpectation(8163, ((VMA, DONE),), None, latency_us=0),),
    ),
    "failed-fork": Scenario(
        failed_fork,
        counts(vma_only=1),
        (FaultExpectation(8163, ((VMA, DONE),), None, latency_us=0),),
    ),
    "hold-open-at-trace-end": Scenario(
        hold_open_at_trace_end,
        counts(io_sleep=1, retry_mmap=1, read=1),
        (FaultExpectation(8169, ((VMA, RETRY), (MMAP, UNFINISHED)), MMAP, latency_us=52,
                          retry_reason=RetryReason.IO, io_wait_us=47),),
        (HoldExpectation(8169, False, wait_us=1, hold_us=0, purpose="fault-retry",
                         released=False),),
    ),
    "other-threads-sleep": Scenario(
        other_thread_sleep_is_not_mine,
        counts(mmap_fallback=1, read=1),
        (FaultExpectation(8169, ((VMA, FALLBACK), (MMAP, DONE)), None, latency_us=7),),
        (HoldExpectation(8169, False, wait_us=1, hold_us=1, purpose="fault-fallback"),),
    ),
}


def load_scenario(tmp_path: Path, scenario: Scenario) -> Recording:
    path = write_trace(tmp_path / "scenario.txt", scenario.build())
    return load_recording(str(path), use_cache=False)


@pytest.fixture(params=sorted(SCENARIOS), ids=sorted(SCENARIOS))
def scenario_run(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Scenario, Recording]:
    scenario = SCENARIOS[request.param]
    return scenario, load_scenario(tmp_path, scenario)


def test_info_counts(scenario_run: tuple[Scenario, Recording]) -> None:
    scenario, recording = scenario_run
    info = recording.info_json()
    assert {"faults": info["faults"], "mmap_lock": info["mmap_lock"]} == scenario.info
    assert info["warnings"] == []


def test_fault_records(scenario_run: tuple[Scenario, Recording]) -> None:
    scenario, recording = scenario_run
    faults = recording.timeline.faults
    assert len(faults) == len(scenario.faults)
    for fault, expected in zip(faults, scenario.faults, strict=True):
        assert fault.tid == expected.tid
        assert tuple((a.lock, a.outcome) for a in fault.attempts) == expected.attempts
        assert fault.retry_lock is expected.retry_lock
        assert fault.latency_ns == expected.latency_us * US
        assert fault.retry_reason is expected.retry_reason
        assert fault.io_wait_ns == expected.io_wait_us * US
        if expected.lock_wait_us is not None:
            assert tuple(a.lock_wait_ns for a in fault.attempts) == tuple(
                wait * US for wait in expected.lock_wait_us)


HOLD_CASES = [pytest.param(name, id=name) for name in sorted(SCENARIOS)]


@pytest.mark.parametrize("name", HOLD_CASES)
def test_lock_holds(tmp_path: Path, name: str) -> None:
    scenario = SCENARIOS[name]
    holds = load_scenario(tmp_path, scenario).timeline.mmap_lock_holds
    assert [
        HoldExpectation(hold.tid, hold.write, hold.wait_ns // US, hold.hold_ns // US,
                        hold.purpose, hold.trylock, hold.downgrade, hold.released)
        for hold in holds
    ] == list(scenario.holds)


def test_a_fallback_waiting_on_the_rwsem_was_never_dropped(tmp_path: Path) -> None:
    """Counted as a retry by the window rule, but no attempt ended in VM_FAULT_RETRY."""
    for name in ("failed-trylock-then-lock", "writer-blocks-readers"):
        recording = load_scenario(tmp_path, SCENARIOS[name])
        fault = next(fault for fault in recording.timeline.faults if fault.tid == 8169)
        assert fault.retry_reason is None
        assert all(attempt.outcome is not RETRY for attempt in fault.attempts)
        assert fault.io_wait_ns == 0  # the D sleep was a lock wait, not I/O


def test_writer_op_of_writer_scenarios(tmp_path: Path) -> None:
    recording = load_scenario(tmp_path, SCENARIOS["writer-blocks-readers"])
    (op,) = recording.timeline.writer_ops
    assert (op.op, op.tid, op.ret) == ("mprotect", 8172, 0)
    assert op.mmap_write_wait_ns == 1 * US
    assert op.mmap_write_hold_ns == 48 * US
    assert op.latency_ns == 51 * US


def test_downgrade_marks_the_writer_op(tmp_path: Path) -> None:
    recording = load_scenario(tmp_path, SCENARIOS["downgrade"])
    (op,) = recording.timeline.writer_ops
    assert op.op == "munmap"
    assert op.downgraded


@dataclass(frozen=True)
class ForkExpectation:
    latency_us: int
    wait_us: int  # for the caller's own mm: dup_mmap's lock of the child's mm is not counted
    hold_us: int
    ret: int


# which clone-family calls are writers, and the fork's timing (every event 1 µs apart)
FORKS = {
    "fork-clone": (ForkExpectation(latency_us=7, wait_us=1, hold_us=4, ret=CHILD),),
    "thread-clone": (),
    "fork-clone3": (ForkExpectation(latency_us=7, wait_us=1, hold_us=4, ret=CHILD),),
    "thread-clone3": (),
    "fork-sys-fork": (ForkExpectation(latency_us=7, wait_us=1, hold_us=4, ret=CHILD),),
    "vfork": (),
    "failed-fork": (ForkExpectation(latency_us=1, wait_us=0, hold_us=0, ret=-11),),
}


@pytest.mark.parametrize("name", sorted(FORKS))
def test_clone_writers(tmp_path: Path, name: str) -> None:
    recording = load_scenario(tmp_path, SCENARIOS[name])
    ops = recording.timeline.writer_ops
    assert [ForkExpectation(op.latency_ns // US, op.mmap_write_wait_ns // US,
                            op.mmap_write_hold_ns // US, op.ret if op.ret is not None else 0)
            for op in ops] == list(FORKS[name])
    every_vma = tuple(vma.vma_id for vma in recording.timeline.vmas)
    assert every_vma  # clustered from the fault's address
    for op in ops:
        # no address range: dup_mmap write-locks every VMA of the caller's mm
        assert (op.op, op.tid, op.addr, op.length, op.vma_ids) == ("fork", 8163, 0, 0, every_vma)
        assert op.start_ns == 377_000_000 * US
    info = recording.info_json()
    assert info["writers"] == {"ops": len(FORKS[name])}
    assert info["unknown_events"] == 0
    assert [lane.tid for lane in recording.timeline.threads] == [8163]  # the child: no lane


def test_a_fork_leaves_the_callers_mm_as_its_mm(tmp_path: Path) -> None:
    """dup_mmap locks the child's mm last; the parent's later faults are still in its own."""
    recording = load_scenario(tmp_path, SCENARIOS["fork-clone"])
    (fault,) = recording.timeline.faults
    assert fault.mm == MM


def test_a_clone_return_without_its_entry(tmp_path: Path) -> None:
    """A new task's return (0) is silent; a parent's return whose entry was not traced warns."""
    parent = ThreadScript(8163).at(T0).event("sys_exit_clone", hex(CHILD)).fault()
    path = write_trace(tmp_path / "cut.txt", merge_by_timestamp(parent, child_returns("clone")))
    recording = load_recording(str(path), use_cache=False)
    assert recording.timeline.writer_ops == ()
    (warning,) = recording.stats.warnings
    assert "sys_exit_clone without its entry" in warning


def test_readers_never_overlap_the_writer(tmp_path: Path) -> None:
    recording = load_scenario(tmp_path, SCENARIOS["writer-blocks-readers"])
    holds = recording.timeline.mmap_lock_holds
    (writer,) = [hold for hold in holds if hold.write]
    for reader in (hold for hold in holds if not hold.write):
        assert reader.acquired_ns >= writer.released_ns or reader.released_ns <= \
            writer.acquired_ns


def test_contention_time_is_recorded_on_the_hold(tmp_path: Path) -> None:
    recording = load_scenario(tmp_path, SCENARIOS["writer-blocks-readers"])
    (hold,) = [hold for hold in recording.timeline.mmap_lock_holds if hold.tid == 8169]
    assert hold.contended_ns == 41 * US  # contention_begin at +12 µs, contention_end at +53 µs


# --- regressions: bugs these tests found in the reconstruction, fixed -----------------------

def test_failed_trylock_marks_the_mmap_attempt(tmp_path: Path) -> None:
    recording = load_scenario(tmp_path, SCENARIOS["failed-trylock-then-lock"])
    (fault,) = recording.timeline.faults
    assert fault.attempts[-1].lock is MMAP
    assert fault.attempts[-1].trylock_failed


def d_sleep_without_seen_wakeup() -> list[str]:
    """The thread sleeps in D and its switch-in is not in the trace (tc-8t.dat, fault 1625)."""
    thread = ThreadScript(8524, comm="sed").at(T0).fault().filemap().block_issue()
    thread.switch_out("D")
    return thread.at(T0 + 200).fault(0x7F86E3A04000).lines


def test_fault_end_covers_its_last_attempt_when_the_wakeup_is_missing(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "nowake.txt", d_sleep_without_seen_wakeup())
    first = load_recording(str(path), use_cache=False).timeline.faults[0]
    assert first.attempts[-1].outcome is RETRY
    assert first.attempts[-1].end_ns <= first.end_ns


def test_attempt_holding_the_lock_at_trace_end_is_unfinished(tmp_path: Path) -> None:
    recording = load_scenario(tmp_path, SCENARIOS["hold-open-at-trace-end"])
    (fault,) = recording.timeline.faults
    assert fault.attempts[-1].outcome is UNFINISHED


@pytest.mark.parametrize("where", ["asleep for I/O", "waiting for mmap_lock"])
def test_attempt_cut_by_the_trace_end_is_unfinished(tmp_path: Path, where: str) -> None:
    thread = ThreadScript(8169).at(T0).fault().filemap().block_issue().switch_out("D")
    if where == "waiting for mmap_lock":
        thread.at(T0 + 50).switch_in().start_locking().switch_out("D")
    path = write_trace(tmp_path / "cut.txt", thread.lines)
    (fault,) = load_recording(str(path), use_cache=False).timeline.faults
    assert fault.attempts[-1].outcome is (RETRY if where == "asleep for I/O" else UNFINISHED)
