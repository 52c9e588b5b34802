"""One thread's window of activity, turned into a Fault record and the thread's spans.

The reconstruction buffers each thread's *marks* (its own lock, sleep, file and I/O events)
from one opener (a `page_fault_user` or a traced syscall entry) to the next, then analyses
the window here with the whole window in view. The per-VMA lock has no tracepoint: a fault
attempt runs under it until an mmap_lock event or a sleep says otherwise (DOMAIN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faulttui.model.timeline import (
    Attempt,
    AttemptLock,
    AttemptOutcome,
    Fault,
    FilePage,
    RetryReason,
    SpanState,
)

# Mark kinds (first element of a mark tuple: (kind, ts_ns, data))
REQUEST = 0  # mmap_lock_start_locking: data = (mm, write)
ACQUIRE = 1  # acquire_returned success: data = (mm, write, trylock, downgrade)
TRY_FAIL = 2  # acquire_returned success=false: data = (mm, write)
RELEASE = 3  # mmap_lock_released: data = (mm, write)
SLEEP = 4  # switched out: data = prev_state
WAKE = 5  # switched in
WAKING = 6  # sched_waking targeting this thread
FILEMAP = 7  # mm_filemap_fault: data = FilePage
IO_ISSUE = 8  # block_rq_issue from this thread: data = request key
SYSCALL_EXIT = 9  # data = op

Mark = tuple[int, int, Any]


@dataclass(slots=True)
class LaneState:
    """What carries from one window to the next for a thread."""

    asleep: str | None = None  # prev_state while switched out
    runnable: bool = False
    read_holds: int = 0
    write_holds: int = 0
    pending_write: bool | None = None  # None: no pending request
    spans: list[tuple[int, int, int]] = field(default_factory=list)
    state: int = SpanState.USER
    state_since: int = -1


@dataclass(frozen=True, slots=True)
class FaultFacts:
    """What the analysis of a fault window found (before VMA and mm are resolved)."""

    attempts: tuple[Attempt, ...]
    end_ns: int
    page: FilePage | None
    io_wait_ns: int
    lock_wait_ns: int
    retry_lock: AttemptLock | None
    retry_reason: RetryReason | None
    refault_candidate: tuple[int, int] | None  # (first filemap ts, retry start ts) to check evictions
    retry_did_io: bool
    window_io_sleep: bool
    window_retry_mmap: bool
    window_mmap_fallback: bool
    window_vma_only: bool
    mm: str


def _is_d(state: str) -> bool:
    return state.startswith("D")


def analyse_fault(start_ns: int, marks: list[Mark], own_io: int, trace_ended: bool) -> FaultFacts:
    """Attempts, end, waits and the window-rule flags of one fault window (stock kernel)."""
    attempts: list[Attempt] = []
    lock = AttemptLock.VMA
    attempt_start = start_ns
    attempt_open = True
    lock_wait_ns = 0
    total_lock_wait_ns = 0
    trylock_failed = False
    io_held_ns = 0
    dropped = False  # a lock was dropped for I/O (VM_FAULT_RETRY)
    finished = False  # an attempt completed the fault (a later D sleep may still undo it)
    request_ns: int | None = None
    sleep_start: int | None = None
    sleep_holding = False
    holding_attempt_lock = False
    nested_holds = 0
    io_wait_ns = 0
    page: FilePage | None = None
    first_filemap_ns = -1
    retry_lock: AttemptLock | None = None
    retry_start_ns = -1
    retry_did_io = False
    end_ns = start_ns
    returned_to_user = False
    # window-rule flags (DESIGN.md "Fault window"); they look at every mark of the window
    window_io_sleep = window_retry_mmap = window_mmap_fallback = False
    any_lock_mark = False
    mm = ""

    def close(outcome: AttemptOutcome, ts: int) -> None:
        nonlocal attempt_open, end_ns
        attempts.append(Attempt(lock, attempt_start, ts, outcome, lock_wait_ns, trylock_failed,
                                io_held_ns))
        attempt_open = False
        end_ns = max(end_ns, ts)  # a fault lasts at least as long as its attempts

    def open_mmap_attempt(ts: int, wait_from: int | None, failed_try: bool) -> None:
        nonlocal lock, attempt_start, attempt_open, lock_wait_ns, trylock_failed, io_held_ns
        nonlocal retry_lock, retry_start_ns
        lock = AttemptLock.MMAP_READ
        attempt_start = wait_from if wait_from is not None else ts
        attempt_open = True
        lock_wait_ns = 0
        trylock_failed = failed_try
        io_held_ns = 0
        if dropped and retry_lock is None:
            retry_lock = AttemptLock.MMAP_READ
            retry_start_ns = attempt_start

    for kind, ts, data in marks:
        if kind in (REQUEST, ACQUIRE, TRY_FAIL, RELEASE):
            any_lock_mark = True
            mm = mm or data[0]
            if finished:
                returned_to_user = True  # a later syscall's lock, not this fault's
        elif finished and kind in (FILEMAP, IO_ISSUE):
            returned_to_user = True
        if kind == SLEEP:
            if _is_d(data):
                window_io_sleep = True
            if returned_to_user:
                continue
            if not _is_d(data) and not data.startswith("R"):
                returned_to_user = True  # an S sleep: the fault had finished
                continue
            if finished:
                if not _is_d(data) or dropped:
                    returned_to_user = True
                    continue
                # the fallback attempt under mmap_lock dropped it for I/O
                # (lock_folio_maybe_drop_mmap): its release was a VM_FAULT_RETRY
                finished = False
                dropped = True
                last = attempts[-1]
                attempts[-1] = Attempt(last.lock, last.start_ns, last.end_ns,
                                       AttemptOutcome.RETRY, last.lock_wait_ns,
                                       last.trylock_failed, last.io_wait_held_ns)
            sleep_start = ts if _is_d(data) else None  # R: preempted, not waiting
            sleep_holding = holding_attempt_lock
            if _is_d(data) and request_ns is None and attempt_open and not holding_attempt_lock:
                dropped = True
                close(AttemptOutcome.RETRY, ts)
        elif kind == WAKE:
            if sleep_start is not None and not returned_to_user:
                slept = ts - sleep_start
                if request_ns is None:
                    io_wait_ns += slept
                    if sleep_holding:
                        io_held_ns += slept
                        if retry_lock is not None:
                            retry_did_io = True
                end_ns = ts
            sleep_start = None
        elif returned_to_user:
            if kind in (REQUEST, TRY_FAIL) and not data[1]:
                if not window_io_sleep:
                    window_mmap_fallback = True
            elif kind == ACQUIRE and not data[1] and not data[3] and window_io_sleep:
                window_retry_mmap = True
            continue
        elif kind == REQUEST:
            if not data[1]:
                if not window_io_sleep:
                    window_mmap_fallback = True
                if attempt_open and lock is AttemptLock.VMA:
                    close(AttemptOutcome.FALLBACK, ts)
                if not attempt_open:
                    open_mmap_attempt(ts, ts, trylock_failed and not attempt_open)
            request_ns = ts
            end_ns = ts
        elif kind == TRY_FAIL:
            if not data[1]:
                if not window_io_sleep:
                    window_mmap_fallback = True
                if attempt_open and lock is AttemptLock.VMA:
                    close(AttemptOutcome.FALLBACK, ts)
                if not attempt_open:
                    open_mmap_attempt(ts, ts, True)
                elif lock is AttemptLock.MMAP_READ:
                    # 6.18's mmap_read_trylock() emits start_locking too: the REQUEST before
                    # this failure already opened the attempt (get_mmap_lock_carefully)
                    trylock_failed = True
            request_ns = None
            end_ns = ts
        elif kind == ACQUIRE:
            _, write, trylock, downgrade = data
            if not write and not downgrade and window_io_sleep:
                window_retry_mmap = True
            if not write:
                if request_ns is not None and attempt_open and lock is AttemptLock.MMAP_READ:
                    lock_wait_ns = ts - request_ns
                    total_lock_wait_ns += lock_wait_ns
                    holding_attempt_lock = True
                elif trylock and attempt_open and lock is AttemptLock.VMA:
                    nested_holds += 1  # mmap_read_trylock inside a VMA-locked fault (anon_vma)
                elif trylock and not attempt_open:
                    open_mmap_attempt(ts, None, False)
                    holding_attempt_lock = True
                else:
                    nested_holds += 1
            elif request_ns is not None:
                total_lock_wait_ns += ts - request_ns
            request_ns = None
            end_ns = ts
        elif kind == RELEASE:
            if not data[1]:
                if nested_holds:
                    nested_holds -= 1
                elif holding_attempt_lock:
                    holding_attempt_lock = False
                    close(AttemptOutcome.DONE, ts)
                    finished = True
            end_ns = ts
        elif kind == FILEMAP:
            if page is None:
                page = data
                first_filemap_ns = ts
            elif retry_lock is not None and ts >= retry_start_ns:
                retry_did_io = True
            end_ns = ts
        elif kind == IO_ISSUE:
            if retry_lock is not None and ts >= retry_start_ns:
                retry_did_io = True
            end_ns = ts

    if attempt_open:
        outcome = AttemptOutcome.UNFINISHED if trace_ended and (
            request_ns is not None or sleep_start is not None or holding_attempt_lock
        ) else AttemptOutcome.DONE
        close(outcome, max(end_ns, attempt_start))
    if retry_lock is None and window_retry_mmap:
        # The window rule (DESIGN.md) counts any read acquisition after a D sleep as a retry
        # under mmap_lock, including a fallback that slept waiting for the lock itself;
        # metrics' retries.mmap must equal info's retry_mmap, so the record says so too.
        retry_lock = AttemptLock.MMAP_READ
    retry_reason = None
    if dropped:
        retry_reason = RetryReason.IO if own_io else RetryReason.FOLIO_LOCK
    refault_candidate = None
    if retry_lock is not None and first_filemap_ns >= 0:
        refault_candidate = (first_filemap_ns, retry_start_ns)
    return FaultFacts(
        attempts=tuple(attempts), end_ns=max(end_ns, start_ns), page=page,
        io_wait_ns=io_wait_ns, lock_wait_ns=total_lock_wait_ns, retry_lock=retry_lock,
        retry_reason=retry_reason, refault_candidate=refault_candidate,
        retry_did_io=retry_did_io, window_io_sleep=window_io_sleep,
        window_retry_mmap=window_retry_mmap, window_mmap_fallback=window_mmap_fallback,
        window_vma_only=not any_lock_mark, mm=mm,
    )


def _state(lane: LaneState, in_fault: bool, in_syscall: bool) -> int:
    if lane.asleep is not None and not lane.runnable:
        if lane.pending_write is not None:
            return SpanState.WAIT_MMAP_WRITE if lane.pending_write else SpanState.WAIT_MMAP_READ
        if in_fault and _is_d(lane.asleep):
            return SpanState.IO_WAIT_HOLDING_MMAP if lane.read_holds else SpanState.IO_WAIT
        return SpanState.SLEEP
    if lane.runnable:
        return SpanState.RUNNABLE
    if lane.pending_write is not None:
        return SpanState.WAIT_MMAP_WRITE if lane.pending_write else SpanState.WAIT_MMAP_READ
    if lane.write_holds:
        return SpanState.HOLD_MMAP_WRITE
    if in_fault:
        return SpanState.FAULT_MMAP_READ if lane.read_holds else SpanState.FAULT_VMA
    if lane.read_holds:
        return SpanState.HOLD_MMAP_READ
    if in_syscall:
        return SpanState.SYSCALL
    return SpanState.USER


def _switch(lane: LaneState, ts: int, state: int) -> None:
    if state == lane.state:
        return
    if lane.state_since >= 0 and ts > lane.state_since:
        lane.spans.append((lane.state_since, ts, lane.state))
    if lane.state_since < 0 or ts > lane.state_since:
        lane.state_since = ts
    lane.state = state


def walk_spans(lane: LaneState, start_ns: int, marks: list[Mark], fault_end_ns: int,
               syscall: bool) -> None:
    """Advance the thread's span state machine over one window's marks."""
    in_syscall = syscall
    fault_open = fault_end_ns > start_ns
    _switch(lane, start_ns, _state(lane, fault_open, in_syscall))
    for kind, ts, data in marks:
        if fault_open and ts >= fault_end_ns and kind != WAKE:
            _switch(lane, fault_end_ns, _state(lane, False, in_syscall))
            fault_open = False
        if kind == REQUEST:
            lane.pending_write = data[1]
        elif kind == ACQUIRE:
            _mm, write, _trylock, downgrade = data
            lane.pending_write = None
            if downgrade:
                lane.write_holds = max(0, lane.write_holds - 1)
                lane.read_holds += 1
            elif write:
                lane.write_holds += 1
            else:
                lane.read_holds += 1
        elif kind == TRY_FAIL:
            lane.pending_write = None
        elif kind == RELEASE:
            if data[1]:
                lane.write_holds = max(0, lane.write_holds - 1)
            else:
                lane.read_holds = max(0, lane.read_holds - 1)
        elif kind == SLEEP:
            lane.asleep = data
            lane.runnable = data.startswith("R")
        elif kind == WAKING:
            if lane.asleep is not None:
                lane.runnable = True
        elif kind == WAKE:
            lane.asleep = None
            lane.runnable = False
        elif kind == SYSCALL_EXIT:
            in_syscall = False
        state = _state(lane, fault_open, in_syscall)
        if state != lane.state:
            _switch(lane, ts, state)
        if fault_open and kind == WAKE and ts >= fault_end_ns:
            _switch(lane, ts, _state(lane, False, in_syscall))
            fault_open = False
    if fault_open and fault_end_ns > lane.state_since:
        _switch(lane, fault_end_ns, _state(lane, False, in_syscall))


def build_fault(fault_id: int, tid: int, mm: str, start_ns: int, address: int, ip: int,
                error_code: int, vma_id: int, facts: FaultFacts, io_requests: int,
                io_latency_ns: int, refault: bool, lines: tuple[int, ...]) -> Fault:
    latency = facts.end_ns - start_ns
    cpu_ns = max(0, latency - facts.io_wait_ns - facts.lock_wait_ns)
    return Fault(
        fault_id, tid, mm, start_ns, facts.end_ns, address, ip, error_code, vma_id, facts.page,
        facts.attempts, io_requests, io_latency_ns, facts.io_wait_ns, cpu_ns, facts.retry_lock,
        facts.retry_reason, refault, facts.window_io_sleep, facts.window_retry_mmap,
        facts.window_mmap_fallback, facts.window_vma_only, lines,
    )
