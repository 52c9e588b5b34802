"""A replayed Timeline -> raw tracefs text (`faulttui generate --emit ftrace`).

The events are what a 6.18 kernel would print for the run: `page_fault_user`,
`mmap_lock_*` (`mm=... memcg_id=... write=... success=...`), `mm_filemap_fault`,
`block_rq_issue` / `block_rq_complete`, `sched_switch` out in D for an I/O sleep and back,
and the writer syscalls (`sys_mmap(...)` / `sys_mmap -> 0x...`). A fork prints as glibc's
fork() does on x86_64: `sys_clone(clone_flags: 0x1200011, ...)`, its `mmap_lock` write
section, `sys_clone -> <child pid>` (the run has no child task, so neither the child's own
`sys_clone -> 0x0` nor dup_mmap's lock of the child's mm is printed). Arguments print as
print_syscall_enter does on 6.18 (below 10 in decimal, else 0x hex). Timestamps print as
`sec.nsec` (9 digits), so faulttui's importer reads the run back to the same
`faulttui info` numbers. Lock waits are not printed as D sleeps (the
replay has no separate sleeping part of a wait), so the fault-window rule counts
`io_sleep` exactly for the faults that waited for I/O.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import NamedTuple

from faulttui.model.fault_table import UNCONTENDED_FIELDS, FaultTable
from faulttui.model.timeline import (
    AttemptLock,
    AttemptOutcome,
    Fault,
    IoRequest,
    LockHold,
    ThreadLane,
    Timeline,
    WriterOp,
)

BASE_NS = 1_000_000_000_000  # the run starts 1000 s after boot
MEMCG_ID = 1
SWAPPER = -1  # pid of the events printed from the idle task (irq completions, switch-in)
# glibc's fork(): clone(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD, child_tidptr)
FORK_CLONE_FLAGS = 0x1200011
CHILD_TIDPTR = 0x7F86E4A2BA10
U64 = 1 << 64


class TraceEvent(NamedTuple):
    ts_ns: int
    pid: int  # SWAPPER for the idle task
    name: str
    body: str


def timeline_to_ftrace(timeline: Timeline) -> str:
    """The whole run as raw tracefs text."""
    comm = {lane.tid: lane.comm for lane in timeline.threads}
    lines = ["# tracer: nop", "#", f"# faulttui synthetic run: {timeline.name}",
             "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION"]
    for event in trace_events(timeline):
        ts = event.ts_ns + BASE_NS
        stamp = f"{ts // 1_000_000_000:5d}.{ts % 1_000_000_000:09d}"
        if event.pid == SWAPPER:
            task, cpu = "          <idle>-0      ", 0
        else:
            task, cpu = f"{comm.get(event.pid, 'task'):>16}-{event.pid:<7}", event.pid % 2
        name = event.name
        if name.startswith("sys_enter_"):
            text = f"sys_{name[10:]}({event.body})"
        elif name.startswith("sys_exit_"):
            text = f"sys_{name[9:]} -> {event.body}"
        else:
            text = f"{name}: {event.body}"
        lines.append(f"{task} [{cpu:03d}] ..... {stamp}: {text}")
    return "\n".join(lines) + "\n"


def event_counts(timeline: Timeline) -> Counter[str]:
    """How many events of each (normalized) name `timeline_to_ftrace` prints.

    Counted thread by thread, not merged into time order (which costs more than making
    them). A replay's uncontended faults (its FaultTable's columns: one attempt under the
    VMA lock, no mmap_lock, no I/O) print `page_fault_user` and, for a file page,
    `mm_filemap_fault` (`_fault_events`): they are counted from the columns, without
    making their records or events."""
    faults: Sequence[Fault] = timeline.faults
    counts: Counter[str] = Counter()
    if isinstance(faults, FaultTable):
        keys = faults.uncontended[UNCONTENDED_FIELDS - 1::UNCONTENDED_FIELDS]
        counts["page_fault_user"] += len(keys)
        counts["mm_filemap_fault"] += sum(1 for key in keys if key >= 0)
        faults = faults.records
    for events in _events_by_thread(timeline, faults):
        counts.update(event.name for event in events)
    return +counts  # (no zero counts)


def trace_events(timeline: Timeline) -> Iterator[TraceEvent]:
    """Every event of the run, ordered by time (per thread in causal order)."""
    return heapq.merge(*_events_by_thread(timeline, timeline.faults), key=attrgetter("ts_ns"))


def _events_by_thread(timeline: Timeline, faults: Sequence[Fault]) -> list[Iterator[TraceEvent]]:
    """Each thread's events in causal order (of `faults` and every writer), threads by tid."""
    holds: dict[int, list[LockHold]] = defaultdict(list)
    for hold in timeline.mmap_lock_holds:
        holds[hold.tid].append(hold)
    io: dict[int, list[IoRequest]] = defaultdict(list)
    for request in timeline.io_requests:
        io[request.tid].append(request)
    lanes = {lane.tid: lane for lane in timeline.threads}
    child_pids = _child_pids(timeline)
    return [_thread_events(lanes.get(tid), tid, items, holds[tid], io[tid], child_pids)
            for tid, items in sorted(_items_by_thread(timeline, faults).items())]


def _child_pids(timeline: Timeline) -> dict[tuple[int, int], int]:
    """A pid for each fork's child, by (tid, start_ns) of the fork: after every tid of the run."""
    forks = sorted((op.start_ns, op.tid) for op in timeline.writer_ops if op.op == "fork")
    tids = [lane.tid for lane in timeline.threads] + [op.tid for op in timeline.writer_ops]
    first = max(tids, default=0) + 1
    return {(tid, start_ns): first + index for index, (start_ns, tid) in enumerate(forks)}


def _items_by_thread(timeline: Timeline,
                     faults: Sequence[Fault]) -> dict[int, list[tuple[int, int, object]]]:
    items: dict[int, list[tuple[int, int, object]]] = defaultdict(list)
    for fault in faults:
        items[fault.tid].append((fault.start_ns, fault.end_ns, fault))
    for op in timeline.writer_ops:
        items[op.tid].append((op.start_ns, op.end_ns, op))
    for tid in items:
        items[tid].sort(key=lambda item: (item[0], item[1]))
    return items


def _lock(write: bool, success: bool | None = None) -> str:
    body = f"mm={{mm}} memcg_id={MEMCG_ID} write={'true' if write else 'false'}"
    return body if success is None else f"{body} success={'true' if success else 'false'}"


def _hold_events(hold: LockHold, pid: int) -> Iterator[TraceEvent]:
    """A read or write hold (not a downgrade): start_locking, acquire_returned, released."""
    yield TraceEvent(hold.request_ns, pid, "mmap_lock_start_locking",
                     _lock(hold.write).format(mm=hold.mm))
    yield TraceEvent(hold.acquired_ns, pid, "mmap_lock_acquire_returned",
                     _lock(hold.write, True).format(mm=hold.mm))


def _thread_events(lane: ThreadLane | None, tid: int, items: list[tuple[int, int, object]],
                   holds: list[LockHold], io: list[IoRequest],
                   child_pids: dict[tuple[int, int], int]) -> Iterator[TraceEvent]:
    comm = lane.comm if lane is not None else "task"
    prio = lane.prio if lane is not None else 120
    holds.sort(key=lambda h: (h.acquired_ns, h.downgrade))
    io_by_fault: dict[int, list[IoRequest]] = defaultdict(list)
    for request in io:
        io_by_fault[request.fault_id].append(request)
    fault_holds: dict[int, list[LockHold]] = defaultdict(list)
    other_holds: list[LockHold] = []
    for hold in holds:
        (fault_holds[hold.fault_id] if hold.fault_id >= 0 else other_holds).append(hold)
    last = 0
    for _, _, item in items:
        if isinstance(item, Fault):
            events = _fault_events(item, comm, prio, fault_holds[item.fault_id],
                                   io_by_fault[item.fault_id])
        else:
            assert isinstance(item, WriterOp)
            events = _writer_events(item, other_holds, child_pids.get((tid, item.start_ns), 0))
        for event in events:
            if event.ts_ns < last:  # never before the thread's previous event
                event = event._replace(ts_ns=last)
            else:
                last = event.ts_ns
            yield event


def _fault_events(fault: Fault, comm: str, prio: int, holds: list[LockHold],
                  io: list[IoRequest]) -> Iterator[TraceEvent]:
    tid = fault.tid
    error_code = 0x6 if fault.page is None else 0x4
    yield TraceEvent(fault.start_ns, tid, "page_fault_user",
                     f"address=0x{fault.address:x} ip=0x{fault.address:x} "
                     f"error_code=0x{error_code:x}")
    pending_holds = list(holds)
    pending_io = sorted(io, key=lambda request: request.issue_ns)
    attempts = fault.attempts
    for index, attempt in enumerate(attempts):
        hold = None
        ran_at = attempt.start_ns
        if attempt.lock is AttemptLock.MMAP_READ and pending_holds:
            hold = pending_holds.pop(0)
            if attempt.trylock_failed:
                yield TraceEvent(hold.request_ns, tid, "mmap_lock_start_locking",
                                 _lock(False).format(mm=hold.mm))
                yield TraceEvent(hold.request_ns, tid, "mmap_lock_acquire_returned",
                                 _lock(False, False).format(mm=hold.mm))
            yield from _hold_events(hold, tid)
            ran_at = hold.acquired_ns
        if attempt.outcome is AttemptOutcome.FALLBACK and attempt.lock is AttemptLock.VMA:
            continue
        if fault.page is not None:
            page = fault.page
            yield TraceEvent(ran_at, tid, "mm_filemap_fault",
                             f"dev={page.dev} ino={page.ino:x} ofs={page.ofs}")
        issued = [r for r in pending_io if r.issue_ns <= attempt.end_ns]
        del pending_io[:len(issued)]
        for request in issued:
            sector = (fault.page.ino << 24) + fault.page.ofs // 512 if fault.page else 0
            yield TraceEvent(request.issue_ns, tid, "block_rq_issue",
                             f"8,0 R 4096 () {sector} + 8 be,0,4 [{comm[:15]}]")
        sleep_ns = 0
        if attempt.outcome is AttemptOutcome.RETRY and index + 1 < len(attempts):
            sleep_start, sleep_ns = attempt.end_ns, attempts[index + 1].start_ns - attempt.end_ns
            if hold is not None:
                yield TraceEvent(hold.released_ns, tid, "mmap_lock_released",
                                 _lock(False).format(mm=hold.mm))
                hold = None
        elif attempt.io_wait_held_ns > 0:
            sleep_ns = attempt.io_wait_held_ns
            sleep_start = issued[0].issue_ns if issued else ran_at
            sleep_start = min(sleep_start, attempt.end_ns - sleep_ns)
        if sleep_ns > 0:
            yield TraceEvent(sleep_start, tid, "sched_switch",
                             f"prev_comm={comm} prev_pid={tid} prev_prio={prio} prev_state=D "
                             "==> next_comm=swapper/0 next_pid=0 next_prio=120")
            woken = sleep_start + sleep_ns
            for request in issued:
                sector = (fault.page.ino << 24) + fault.page.ofs // 512 if fault.page else 0
                yield TraceEvent(min(request.complete_ns, woken), SWAPPER, "block_rq_complete",
                                 f"8,0 R () {sector} + 8 be,0,4 [0]")
            yield TraceEvent(woken, SWAPPER, "sched_switch",
                             "prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> "
                             f"next_comm={comm} next_pid={tid} next_prio={prio}")
        if hold is not None:
            yield TraceEvent(hold.released_ns, tid, "mmap_lock_released",
                             _lock(False).format(mm=hold.mm))


def _syscall_args(**values: int) -> str:
    """`name: value, ...` as print_syscall_enter prints them (6.18: below 10 %lu, else 0x%lx)."""
    return ", ".join(f"{name}: {value}" if value < 10 else f"{name}: 0x{value:x}"
                     for name, value in values.items())


def _enter_args(op: WriterOp) -> str:
    if op.op == "mmap":
        return _syscall_args(addr=0, len=op.length, prot=1, flags=1, fd=3, off=0)
    if op.op == "munmap":
        return _syscall_args(addr=op.addr, len=op.length)
    if op.op == "mprotect":
        return _syscall_args(start=op.addr, len=op.length, prot=1)
    if op.op == "madvise":
        return _syscall_args(start=op.addr, len_in=op.length, behavior=3)
    if op.op == "fork":
        return _syscall_args(clone_flags=FORK_CLONE_FLAGS, newsp=0, parent_tidptr=0,
                             child_tidptr=CHILD_TIDPTR, tls=0)
    return ""


def _writer_events(op: WriterOp, holds: list[LockHold], child_pid: int) -> Iterator[TraceEvent]:
    syscall = "clone" if op.op == "fork" else op.op
    yield TraceEvent(op.start_ns, op.tid, f"sys_enter_{syscall}", _enter_args(op))
    mine = [h for h in holds if op.start_ns <= h.request_ns <= op.end_ns]
    for hold in mine:
        holds.remove(hold)
        if hold.downgrade:
            yield TraceEvent(hold.acquired_ns, op.tid, "mmap_lock_acquire_returned",
                             _lock(False, True).format(mm=hold.mm))
        else:
            yield from _hold_events(hold, op.tid)
        if not (hold.write and any(h.downgrade and h.request_ns == hold.released_ns
                                   for h in mine)):
            yield TraceEvent(hold.released_ns, op.tid, "mmap_lock_released",
                             _lock(hold.write).format(mm=hold.mm))
    ret = child_pid if op.op == "fork" else op.ret or 0
    # print_syscall_exit: `-> 0x%lx` of the long return value (-ENOMEM is 0xffff...fff4)
    yield TraceEvent(op.end_ns, op.tid, f"sys_exit_{syscall}", f"0x{ret % U64:x}")
