"""The page-fault path of one replayed fault, under the world's policy.

The attempt loop of arch/x86/mm/fault.c `do_user_addr_fault` (reference 1.4):

1. take the attempt's lock: the per-VMA lock (`lock_vma_under_rcu`, never waits; on
   failure fall back) or `mmap_lock` read (`lock_mm_and_find_vma`: trylock, then sleep);
2. look the page up: uptodate -> map it and finish; absent -> issue the read (MAJOR);
   read in flight or folio locked -> wait for it;
3. waiting: drop the lock and return VM_FAULT_RETRY if the policy says so and the attempt
   is not FAULT_FLAG_TRIED, else sleep holding the lock;
4. after a drop the retry takes the policy's retry lock. FAULT_FLAG_TRIED is set when a
   VMA attempt's drop was MAJOR, and after any drop from an `mmap_lock` attempt.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from faulttui.model.timeline import (
    Attempt,
    AttemptLock,
    AttemptOutcome,
    Fault,
    IoRequest,
    LockHold,
    RetryReason,
    SpanState,
    TrylockFailure,
)
from replay.engine import BLOCK, ProcessGenerator
from replay.mmap_lock import MmapLock
from replay.page_cache import ABSENT
from replay.workload import FaultSpec

if TYPE_CHECKING:
    from replay.thread import ThreadRunner

VMA = AttemptLock.VMA
MMAP_READ = AttemptLock.MMAP_READ
DONE = AttemptOutcome.DONE
FALLBACK = AttemptOutcome.FALLBACK
RETRY = AttemptOutcome.RETRY
IO = RetryReason.IO
FOLIO_LOCK = RetryReason.FOLIO_LOCK
USER = int(SpanState.USER)
FAULT_VMA = int(SpanState.FAULT_VMA)
FAULT_MMAP_READ = int(SpanState.FAULT_MMAP_READ)
WAIT_MMAP_READ = int(SpanState.WAIT_MMAP_READ)
IO_WAIT = int(SpanState.IO_WAIT)
IO_WAIT_HOLDING_VMA = int(SpanState.IO_WAIT_HOLDING_VMA)
IO_WAIT_HOLDING_MMAP = int(SpanState.IO_WAIT_HOLDING_MMAP)
MAX_VMA_RETRIES = 8  # bound the RFC's non-major VMA retry loop (reference 1.5)
# new_record(Fault, (every field, ...)): a record built directly, for the ones made once or
# more per fault (a NamedTuple's own __new__ costs a Python call more)
new_record = tuple.__new__


def fault_path(thread: ThreadRunner, f: FaultSpec,
               first_lock: AttemptLock | None = None) -> ProcessGenerator:
    """Replay fault `f`; `first_lock`: the policy's `first_lock(f)` when already asked."""
    world = thread.world
    engine = thread.engine
    policy = world.policy
    page_cache = world.page_cache
    to = thread.to
    mm = f.mm
    mmap_lock, vma_lock = world.fault_locks(mm, f.vma_id)
    key = f.page_key
    start = engine.now
    attempts: list[Attempt] = []
    lock = first_lock if first_lock is not None else policy.first_lock(f)
    tried = dropped = refault = window_fallback = window_retry_mmap = used_mmap = False
    first_work = True  # the next attempt that gets past its lock is the fault's first
    fallback_pending = f.fallback_cpu_ns >= 0
    retry_lock: AttemptLock | None = None
    retry_reason: RetryReason | None = None
    io_requests = io_latency = io_wait = lock_wait_total = 0

    while True:
        # 1. take the attempt's lock
        attempt_start = engine.now
        lock_wait = 0
        trylock_failed = False
        if lock is VMA and not vma_lock.try_read():
            attempts.append(Attempt(VMA, attempt_start, attempt_start, FALLBACK))
            lock = MMAP_READ
        if lock is MMAP_READ:
            used_mmap = True
            if not dropped:
                window_fallback = True
            if not mmap_lock.try_read():
                trylock_failed = True
                world.trylock_failures.append(
                    TrylockFailure(mm, thread.tid, attempt_start, False, f.fault_id))
                if not mmap_lock.read(thread):
                    to(WAIT_MMAP_READ)
                    yield BLOCK
                    lock_wait = engine.now - attempt_start
                    lock_wait_total += lock_wait
            if dropped:
                window_retry_mmap = True
            to(FAULT_MMAP_READ)
        else:
            to(FAULT_VMA)
        if dropped and retry_lock is None:
            retry_lock = lock

        if fallback_pending:
            fallback_pending = False
            if lock is VMA:
                # the recorded fault gave up its VMA lock for a reason of its own
                # (VM_FAULT_RETRY without I/O: anon_vma preparation, no ->map_pages, ...)
                if f.fallback_cpu_ns > 0:
                    yield f.fallback_cpu_ns
                vma_lock.release_read(engine)
                attempts.append(Attempt(VMA, attempt_start, engine.now, FALLBACK))
                lock = MMAP_READ
                continue

        if first_work:
            first_work = False
            cpu = f.cpu_ns
            if lock is VMA and f.nested_reads:
                cpu = yield from _nested_reads(thread, f, mmap_lock, cpu)
        else:
            cpu = f.map_cpu_ns or world.default_map_cpu_ns

        # 2. the page: uptodate, absent (read it: MAJOR), in flight or locked (wait for it)
        wait_until = 0
        issued = uptodate = False
        if key >= 0:
            ready = page_cache.ready_ns(key)
            now = engine.now
            if ready == ABSENT:
                if dropped:
                    refault = True  # the retry found its page evicted: read it again
                issue = now + cpu
                wait_until = world.storage.read(issue, f.io_ns)
                page_cache.insert(key, wait_until, now)
                if f.readahead_end_key > key + 1:
                    page_cache.insert_absent(key + 1, f.readahead_end_key, wait_until, now)
                io_requests += 1
                io_latency += wait_until - issue
                world.io_requests.append(new_record(
                    IoRequest, (thread.tid, issue, wait_until, 0, 4096, f.fault_id)))
                issued = True
            elif ready > now:
                wait_until = ready  # someone else's read is in flight: wait on the folio
            else:
                locked_until = page_cache.folio_locked_until(key)
                if locked_until > now:
                    wait_until = locked_until  # uptodate, but its folio lock is busy
                    uptodate = True

        # 3. wait for the page, dropping the lock (VM_FAULT_RETRY) or holding it
        held = 0
        if wait_until:
            # the thread runs again once woken and back on a CPU, as long as recorded
            wait_until += f.wake_ns if f.wake_ns >= 0 else world.typical_wake_ns
            # asleep, then runnable, holding a folio reference: reclaim keeps the page until
            # the thread runs again (see page_cache's docstring)
            page_cache.pin(key, wait_until)
            if not uptodate and cpu > 0:
                yield cpu  # the attempt's work up to the sleep (for a read: allocate, submit)
            cpu = f.map_cpu_ns or world.default_map_cpu_ns
            if wait_until > engine.now:
                if not tried and policy.drops_lock(f, lock, uptodate):
                    if lock is VMA:
                        vma_lock.release_read(engine)
                    else:
                        _release_mmap(thread, f, mmap_lock, attempt_start, lock_wait,
                                      trylock_failed, dropped)
                    attempts.append(new_record(Attempt, (
                        lock, attempt_start, engine.now, RETRY, lock_wait, trylock_failed, 0)))
                    if retry_reason is None:
                        retry_reason = IO if issued else FOLIO_LOCK
                    tried = (tried or issued or lock is MMAP_READ
                             or len(attempts) >= MAX_VMA_RETRIES)
                    dropped = True
                    to(IO_WAIT)
                    slept = wait_until - engine.now
                    io_wait += slept
                    yield slept
                    lock = policy.retry_lock(f)
                    continue
                to(IO_WAIT_HOLDING_VMA if lock is VMA else IO_WAIT_HOLDING_MMAP)
                held = wait_until - engine.now
                io_wait += held
                yield held
                to(FAULT_VMA if lock is VMA else FAULT_MMAP_READ)

        # 4. map the page holding its folio lock, release, done
        if key >= 0:
            page_cache.lock_folio(key, engine.now + cpu)
        if cpu > 0:
            yield cpu
        if lock is VMA:
            vma_lock.release_read(engine)
        else:
            _release_mmap(thread, f, mmap_lock, attempt_start, lock_wait, trylock_failed, dropped)
        attempts.append(new_record(Attempt, (
            lock, attempt_start, engine.now, DONE, lock_wait, trylock_failed, held)))
        break

    to(USER)
    end = engine.now
    pages = world.pages
    world.add_fault(new_record(Fault, (
        f.fault_id, thread.tid, mm, start, end, f.address, 0, 0, f.vma_id,
        pages[key] if 0 <= key < len(pages) else None, tuple(attempts), io_requests, io_latency,
        io_wait, max(0, end - start - io_wait - lock_wait_total), retry_lock, retry_reason,
        refault, io_wait > 0, window_retry_mmap, window_fallback, not used_mmap, ())))


def _nested_reads(thread: ThreadRunner, f: FaultSpec, mmap_lock: MmapLock,
                  cpu: int) -> Generator[int, None, int]:
    """__vmf_anon_prepare: mmap_read_trylock held briefly inside the VMA-locked attempt."""
    world = thread.world
    engine = thread.engine
    for _ in range(f.nested_reads):
        nested_start = engine.now
        if not mmap_lock.try_read():
            world.trylock_failures.append(
                TrylockFailure(f.mm, thread.tid, nested_start, False, f.fault_id))
            continue
        if f.nested_read_ns > 0:
            yield f.nested_read_ns
        mmap_lock.release_read()
        world.holds.append(LockHold(f.mm, thread.tid, False, nested_start, nested_start,
                                    engine.now, trylock=True, fault_id=f.fault_id,
                                    purpose="fault-nested"))
    return max(0, cpu - f.nested_reads * f.nested_read_ns)


def _release_mmap(thread: ThreadRunner, f: FaultSpec, mmap_lock: MmapLock, request_ns: int,
                  lock_wait: int, trylock_failed: bool, dropped: bool) -> None:
    mmap_lock.release_read()
    thread.world.holds.append(new_record(LockHold, (
        f.mm, thread.tid, False, request_ns, request_ns + lock_wait, thread.engine.now, True,
        not trylock_failed, False, f.fault_id, "fault-retry" if dropped else "fault-fallback",
        lock_wait)))
