"""Normalized events -> Timeline: faults with attempts, mmap_lock holds, writers, spans.

One pass over the events in trace order. Each thread's own events (and the few that
concern it from other contexts: being switched in, woken, its block requests completing)
become *marks* of its current window, from one opener (`page_fault_user` or a traced syscall
entry) to the next; `window.py` analyses a window when it closes. Lock holds and the
`faulttui info` counters are kept in real time here.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from faulttui.analysis import window as w
from faulttui.analysis.vma_layout import VmaLayout, build_layout, mmap_is_anonymous
from faulttui.importers.events import CLONE_SYSCALLS, Event, ImportStats
from faulttui.model.timeline import (
    Fault,
    FilePage,
    IoRequest,
    LockHold,
    ThreadLane,
    Timeline,
    TrylockFailure,
    WriterOp,
)

WRITER_OPS = ("mmap", "munmap", "mprotect", "madvise", "brk", "mremap")
CLONE_VM = 0x100
# the flags kernel/fork.c's SYSCALL_DEFINE0(fork) and (vfork) pass to kernel_clone: SIGCHLD,
# and CLONE_VFORK | CLONE_VM | SIGCHLD (musl's fork() is SYS_fork where the arch has it)
IMPLIED_CLONE_FLAGS = {"fork": 0x11, "vfork": 0x4111}
CHECKPOINT_EVENTS = 4096
"""Events between two calls of `add_all`'s checkpoint."""


@dataclass(slots=True)
class LockCounts:
    """The `mmap_lock` counters of `faulttui info` (DESIGN.md counting rules)."""

    read: int = 0
    write: int = 0
    trylock_failed: int = 0
    downgrades: int = 0


@dataclass(slots=True)
class _OpenHold:
    mm: str
    write: bool
    request_ns: int
    acquired_ns: int
    trylock: bool
    downgrade: bool
    fault_id: int
    purpose: str
    contended_ns: int


@dataclass(slots=True)
class _Window:
    kind: str  # "fault" | "syscall" | "pre"
    start_ns: int
    marks: list[w.Mark] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    fault_id: int = -1
    address: int = 0
    ip: int = 0
    error_code: int = 0
    op: str = ""
    args: dict[str, int] = field(default_factory=dict)
    io_requests: int = 0
    slept_d: bool = False
    thread_clone: bool = False  # a clone with CLONE_VM: a new thread, no writer


@dataclass(slots=True)
class _Thread:
    tid: int
    tgid: int
    comm: str
    prio: int = 120
    mm: str = ""
    lane: w.LaneState = field(default_factory=w.LaneState)
    window: _Window | None = None
    holds: list[_OpenHold] = field(default_factory=list)
    pending: tuple[str, bool, int] | None = None  # mm, write, request ts
    contended_ns: int = 0
    contention_start: int = -1
    syscall_write_wait_ns: int = 0
    syscall_write_hold_ns: int = 0
    syscall_downgraded: bool = False
    syscall_write_mm: str = ""  # the first mm the syscall write-locked: the caller's own
    active: bool = False  # has faults, lock activity or writer ops


@dataclass(frozen=True, slots=True)
class Reconstruction:
    timeline: Timeline
    lock_counts: LockCounts
    fault_threads: int


class Reconstructor:
    """Feed events with `add_all` (a `snapshot` any time in between), then call `finish`.
    Not reusable."""

    def __init__(self, stats: ImportStats) -> None:
        self.stats = stats
        self.threads: dict[int, _Thread] = {}
        self.counts = LockCounts()
        self.closed_faults: list[tuple[_Window, int, w.FaultFacts, bool]] = []
        self.holds: list[LockHold] = []
        self.trylock_failures: list[TrylockFailure] = []
        self.writer_ops: list[WriterOp] = []
        self.mmaps: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
        self.io_open: dict[tuple[str, int], tuple[int, int, int, int]] = {}
        self.io_requests: list[IoRequest] = []
        self.io_latency_by_fault: dict[int, int] = defaultdict(int)
        self.evictions: dict[tuple[str, int, int], list[int]] = defaultdict(list)
        self.eviction_count = 0
        self.next_fault_id = 0
        self.first_ns = -1
        self.last_ns = 0
        self.release_without_acquire = 0

    # -- plumbing -----------------------------------------------------------------------
    def _event_handlers(self) -> dict[str, Callable[[Event], None]]:
        # built per call, never kept: bound methods stored on self would make the
        # Reconstructor (and every mark it holds) a reference cycle, freed only by the GC
        handlers: dict[str, Callable[[Event], None]] = {
            "page_fault_user": self._page_fault,
            "mmap_lock_start_locking": self._start_locking,
            "mmap_lock_acquire_returned": self._acquire_returned,
            "mmap_lock_released": self._released,
            "sched_switch": self._sched_switch,
            "sched_waking": self._sched_waking,
            "mm_filemap_fault": self._filemap_fault,
            "mm_filemap_delete_from_page_cache": self._evicted,
            "block_rq_issue": self._block_issue,
            "block_rq_complete": self._block_complete,
            "contention_begin": self._contention_begin,
            "contention_end": self._contention_end,
        }
        for op in WRITER_OPS:
            handlers[f"sys_enter_{op}"] = self._sys_enter
            handlers[f"sys_exit_{op}"] = self._sys_exit
        for syscall in CLONE_SYSCALLS:
            handlers[f"sys_enter_{syscall}"] = self._clone_enter
            handlers[f"sys_exit_{syscall}"] = self._clone_exit
        return handlers

    def add_all(self, events: Iterable[Event], checkpoint: Callable[[Event], None] | None = None,
                every: int = CHECKPOINT_EVENTS) -> None:
        """Feed `events`; after each batch of `every` events (first and last ns stored) call
        `checkpoint` with the batch's last event, e.g. to take a `snapshot` (the loop itself
        stays per-event cheap)."""
        handlers = self._event_handlers()
        page_fault = self._page_fault
        first_ns = self.first_ns
        last_ns = self.last_ns
        iterator = iter(events)
        while batch := list(islice(iterator, every)):
            for event in batch:
                handler = handlers.get(event.name)
                if handler is not None and ("raw" not in event.fields or handler == page_fault):
                    handler(event)  # a damaged page_fault_user still counts as a fault
                ts_ns = event.ts_ns
                if ts_ns > last_ns:
                    last_ns = ts_ns
                if first_ns < 0:
                    first_ns = ts_ns
            self.first_ns = first_ns
            self.last_ns = last_ns
            if checkpoint is not None:
                checkpoint(batch[-1])

    def _thread(self, tid: int, tgid: int = -1, comm: str = "") -> _Thread:
        thread = self.threads.get(tid)
        if thread is None:
            thread = self.threads[tid] = _Thread(tid, tgid, comm)
        elif comm and thread.comm != comm and not comm.startswith("<"):
            thread.comm = comm
        if tgid >= 0 and thread.tgid < 0:
            thread.tgid = tgid
        return thread

    def _mark(self, thread: _Thread, kind: int, ts: int, data: Any, line: int = 0) -> None:
        window = thread.window
        if window is None:
            window = thread.window = _Window("pre", ts)
        window.marks.append((kind, ts, data))
        if line and window.kind == "fault":
            window.lines.append(line)

    def _open(self, thread: _Thread, window: _Window) -> None:
        self._close(thread, trace_ended=False)
        thread.window = window

    # -- event handlers -----------------------------------------------------------------
    def _page_fault(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        fields = event.fields
        window = _Window("fault", event.ts_ns, fault_id=self.next_fault_id,
                         address=fields.get("address", 0), ip=fields.get("ip", 0),
                         error_code=fields.get("error_code", 0))
        window.lines.append(event.line)
        self.next_fault_id += 1
        self._open(thread, window)
        thread.active = True

    def _sys_enter(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        self._open_syscall(thread, _Window("syscall", event.ts_ns, op=event.name[10:],
                                           args=event.fields))
        thread.active = True

    def _open_syscall(self, thread: _Thread, window: _Window) -> None:
        self._open(thread, window)
        thread.syscall_write_wait_ns = thread.syscall_write_hold_ns = 0
        thread.syscall_downgraded = False
        thread.syscall_write_mm = ""

    def _sys_exit(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        window = thread.window
        op = event.name[9:]
        if window is None or window.kind != "syscall" or window.op != op:
            self.stats.warn(f"{self.stats.path}:{event.line}: sys_exit_{op} without its entry")
            return
        self._mark(thread, w.SYSCALL_EXIT, event.ts_ns, op)
        args = window.args
        ret = event.fields["ret"]
        address = args.get("addr", args.get("start", args.get("brk", 0)))
        length = args.get("len", args.get("len_in", args.get("old_len", 0)))
        if op == "mmap" and ret > 0:
            anonymous = mmap_is_anonymous(args.get("flags", 0), args.get("fd", -1))
            self.mmaps[thread.mm].append((ret, length, anonymous))
        self.writer_ops.append(WriterOp(
            tid=thread.tid, op=op, start_ns=window.start_ns, end_ns=event.ts_ns, addr=address,
            length=length, ret=ret, mmap_write_wait_ns=thread.syscall_write_wait_ns,
            mmap_write_hold_ns=thread.syscall_write_hold_ns,
            downgraded=thread.syscall_downgraded,
        ))
        window.op = ""  # the syscall is over; later marks belong to user time

    # A fork write-locks the caller's mm: kernel/fork.c copy_process -> copy_mm -> dup_mm ->
    # dup_mmap (mm/mmap.c on recent kernels) takes mmap_write_lock_killable(oldmm), then
    # mmap_write_lock_nested on the child's new mm, and vma_start_write on every VMA it copies
    # (6.4+); copy_mm returns before all of it for CLONE_VM (a thread shares the mm). So a clone
    # without CLONE_VM is a fork writer (even if its lock was not traced, as a failed mmap is
    # still a writer call); a clone with CLONE_VM never is; clone3's flags are behind its user
    # pointer, so a clone3 is a fork writer exactly when the caller took mmap_lock for writing
    # inside it. The new task returns from the call too (ret_from_fork: `sys_clone -> 0x0`
    # with no entry before it), which is no writer either.
    def _clone_enter(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        syscall = event.name[10:]
        args = event.fields
        flags = args.get("clone_flags", IMPLIED_CLONE_FLAGS.get(syscall))  # None for clone3
        if flags is not None and "clone_flags" not in args:
            args = {**args, "clone_flags": flags}
        thread_clone = flags is not None and bool(flags & CLONE_VM)
        self._open_syscall(thread, _Window("syscall", event.ts_ns, op=syscall, args=args,
                                           thread_clone=thread_clone))
        if flags is not None and not thread_clone:
            thread.active = True

    def _clone_exit(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        window = thread.window
        syscall = event.name[9:]
        ret = event.fields["ret"]
        if window is None or window.kind != "syscall" or window.op != syscall:
            if ret != 0:  # 0: the new task's own return
                self.stats.warn(f"{self.stats.path}:{event.line}: sys_exit_{syscall} "
                                "without its entry")
            return
        self._mark(thread, w.SYSCALL_EXIT, event.ts_ns, syscall)
        window.op = ""
        caller_mm = thread.syscall_write_mm
        if caller_mm:
            thread.mm = caller_mm  # dup_mmap's last lock was the child's mm
        if window.thread_clone or ("clone_flags" not in window.args and not caller_mm):
            return
        thread.active = True
        self.writer_ops.append(WriterOp(
            tid=thread.tid, op="fork", start_ns=window.start_ns, end_ns=event.ts_ns, ret=ret,
            mmap_write_wait_ns=thread.syscall_write_wait_ns,
            mmap_write_hold_ns=thread.syscall_write_hold_ns,
            downgraded=thread.syscall_downgraded,
        ))

    def _start_locking(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        fields = event.fields
        thread.pending = (fields["mm"], fields["write"], event.ts_ns)
        thread.contended_ns = 0
        thread.mm = fields["mm"]
        thread.active = True
        self._mark(thread, w.REQUEST, event.ts_ns, (fields["mm"], fields["write"]), event.line)

    def _acquire_returned(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        fields = event.fields
        mm, write, ts = fields["mm"], fields["write"], event.ts_ns
        thread.mm = mm
        thread.active = True
        pending = thread.pending
        waited = pending is not None and pending[0] == mm and pending[1] == write
        if not fields["success"]:
            self.counts.trylock_failed += 1
            self.trylock_failures.append(TrylockFailure(mm, thread.tid, ts, write,
                                                        self._fault_id(thread)))
            if waited:
                # 6.18's mmap_read_trylock() emits start_locking before its failure; (on older
                # kernels only a killed blocking lock ends a request this way)
                thread.pending = None
            self._mark(thread, w.TRY_FAIL, ts, (mm, write), event.line)
            return
        downgrade = False
        if not write and not waited:
            for index in range(len(thread.holds) - 1, -1, -1):
                hold = thread.holds[index]
                if hold.mm == mm and hold.write:
                    # mmap_write_downgrade(): the write hold becomes a read hold, no release event
                    self._close_hold(thread, thread.holds.pop(index), ts, released=True)
                    downgrade = True
                    thread.syscall_downgraded = True
                    break
        if downgrade:
            self.counts.downgrades += 1
        elif write:
            self.counts.write += 1
        else:
            self.counts.read += 1
        request_ns = pending[2] if waited and pending is not None else ts
        if write and not thread.syscall_write_mm:
            thread.syscall_write_mm = mm
        if waited and write and mm == thread.syscall_write_mm:
            thread.syscall_write_wait_ns += ts - request_ns
        thread.holds.append(_OpenHold(mm, write, request_ns, ts, not waited and not downgrade,
                                      downgrade, self._fault_id(thread),
                                      self._purpose(thread, write), thread.contended_ns))
        thread.pending = None
        thread.contended_ns = 0
        self._mark(thread, w.ACQUIRE, ts, (mm, write, not waited, downgrade), event.line)

    def _released(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        fields = event.fields
        mm, write = fields["mm"], fields["write"]
        for index in range(len(thread.holds) - 1, -1, -1):
            hold = thread.holds[index]
            if hold.mm == mm and hold.write == write:
                self._close_hold(thread, thread.holds.pop(index), event.ts_ns, released=True)
                break
        else:
            self.release_without_acquire += 1  # acquired before the trace started
        self._mark(thread, w.RELEASE, event.ts_ns, (mm, write), event.line)

    def _sched_switch(self, event: Event) -> None:
        fields = event.fields
        prev_pid, next_pid = fields["prev_pid"], fields["next_pid"]
        if prev_pid:
            prev = self._thread(prev_pid, -1, fields["prev_comm"])
            prev.prio = fields["prev_prio"]
            state = fields["prev_state"]
            if prev.window is not None and prev.window.kind == "fault" and state.startswith("D"):
                prev.window.slept_d = True
            self._mark(prev, w.SLEEP, event.ts_ns, state, event.line)
        if next_pid:
            following = self._thread(next_pid, -1, fields["next_comm"])
            following.prio = fields["next_prio"]
            self._mark(following, w.WAKE, event.ts_ns, None, event.line)

    def _sched_waking(self, event: Event) -> None:
        pid = event.fields["pid"]
        if pid:
            self._mark(self._thread(pid, -1, event.fields["comm"]), w.WAKING, event.ts_ns, None)

    def _filemap_fault(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        fields = event.fields
        page = FilePage(fields["dev"], fields["ino"], fields["ofs"])
        self._mark(thread, w.FILEMAP, event.ts_ns, page, event.line)

    def _evicted(self, event: Event) -> None:
        fields = event.fields
        self.evictions[(fields["dev"], fields["ino"], fields["ofs"])].append(event.ts_ns)
        self.eviction_count += 1

    def _block_issue(self, event: Event) -> None:
        fields = event.fields
        thread = self._thread(event.tid, event.tgid, event.comm)
        fault_id = self._fault_id(thread)
        key = (fields["dev"], fields["sector"])
        self.io_open[key] = (thread.tid, event.ts_ns, fields["bytes"], fault_id)
        if thread.window is not None and thread.window.kind == "fault":
            thread.window.io_requests += 1
        self._mark(thread, w.IO_ISSUE, event.ts_ns, key, event.line)

    def _block_complete(self, event: Event) -> None:
        fields = event.fields
        issued = self.io_open.pop((fields["dev"], fields["sector"]), None)
        if issued is None:
            return
        tid, issue_ns, nbytes, fault_id = issued
        self.io_requests.append(IoRequest(tid, issue_ns, event.ts_ns, fields["sector"], nbytes,
                                          fault_id))
        if fault_id >= 0:
            self.io_latency_by_fault[fault_id] += event.ts_ns - issue_ns

    def _contention_begin(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        if thread.pending is not None:
            thread.contention_start = event.ts_ns

    def _contention_end(self, event: Event) -> None:
        thread = self._thread(event.tid, event.tgid, event.comm)
        if thread.pending is not None and thread.contention_start >= 0:
            thread.contended_ns += event.ts_ns - thread.contention_start
        thread.contention_start = -1

    # -- closing ------------------------------------------------------------------------
    @staticmethod
    def _fault_id(thread: _Thread) -> int:
        window = thread.window
        return window.fault_id if window is not None and window.kind == "fault" else -1

    @staticmethod
    def _purpose(thread: _Thread, write: bool) -> str:
        window = thread.window
        if window is None:
            return "other"
        if window.kind == "syscall" and window.op and not window.thread_clone:
            return "writer"
        if window.kind == "fault" and not write:
            return "fault-retry" if window.slept_d else "fault-fallback"
        return "other"

    def _close_hold(self, thread: _Thread, hold: _OpenHold, ts: int, released: bool) -> None:
        if hold.write and hold.mm == thread.syscall_write_mm:
            thread.syscall_write_hold_ns += ts - hold.acquired_ns
        purpose = hold.purpose
        if purpose == "fault-fallback" and hold.trylock:
            purpose = "fault-nested"
        self.holds.append(LockHold(
            mm=hold.mm, tid=thread.tid, write=hold.write, request_ns=hold.request_ns,
            acquired_ns=hold.acquired_ns, released_ns=ts, released=released,
            trylock=hold.trylock, downgrade=hold.downgrade, fault_id=hold.fault_id,
            purpose=purpose, contended_ns=hold.contended_ns,
        ))

    def _close(self, thread: _Thread, trace_ended: bool) -> None:
        window = thread.window
        if window is None:
            return
        thread.window = None
        if window.kind != "fault":
            w.walk_spans(thread.lane, window.start_ns, window.marks, -1, window.kind == "syscall")
            return
        facts = w.analyse_fault(window.start_ns, window.marks, window.io_requests, trace_ended)
        refault = False
        candidate = facts.refault_candidate
        if candidate is not None and facts.page is not None and facts.retry_did_io:
            page = facts.page
            evicted_at = self.evictions.get((page.dev, page.ino, page.ofs))
            if evicted_at:
                first, retry = candidate
                refault = any(first <= evicted <= retry for evicted in evicted_at)
        self.closed_faults.append((window, thread.tid, facts, refault))
        w.walk_spans(thread.lane, window.start_ns, window.marks, facts.end_ns, False)
        window.marks = []  # analysed: only the facts are needed from here on

    def finish(self, name: str = "recording") -> Reconstruction:
        """Close every open window, hold and span at the last event, and build the Timeline."""
        end_ns = self.last_ns
        for thread in self.threads.values():
            self._close(thread, trace_ended=True)
            for hold in thread.holds:
                self._close_hold(thread, hold, end_ns, released=False)
            thread.holds.clear()
            lane = thread.lane
            if lane.state_since >= 0 and end_ns > lane.state_since:
                lane.spans.append((lane.state_since, end_ns, lane.state))
        if self.release_without_acquire:
            self.stats.warn(f"{self.stats.path}: {self.release_without_acquire} mmap_lock "
                            "releases without an acquisition (held when the trace started)")
        return self._reconstruction(name)

    def snapshot(self, name: str = "recording") -> Reconstruction:
        """What is reconstructed so far, changing nothing: the faults whose windows closed,
        the holds released, each thread's spans so far, the writer ops and I/O requests that
        ended; its end is the latest event seen. Feeding more events afterwards is fine."""
        return self._reconstruction(name)

    def _reconstruction(self, name: str) -> Reconstruction:
        """The Timeline of what is closed now (reads the builder's state, never changes it)."""
        lanes = tuple(self._lane(thread) for thread in sorted(self.threads.values(),
                                                               key=lambda t: t.tid)
                      if thread.active)
        main_mm = max(self.mmaps, key=lambda mm: len(self.mmaps[mm]), default="")
        layout = build_layout(main_mm, self.stats.maps, self.mmaps.get(main_mm, ()),
                              (window.address for window, *_ in self.closed_faults))
        faults = self._build_faults(layout.find)
        writer_ops = [replace(op, vma_ids=self._locked_vmas(op, layout, main_mm))
                      for op in self.writer_ops]
        timeline = Timeline(
            name=name, start_ns=max(self.first_ns, 0), end_ns=self.last_ns, threads=lanes,
            faults=tuple(faults), mmap_lock_holds=tuple(sorted(self.holds,
                                                               key=lambda h: h.acquired_ns)),
            trylock_failures=tuple(self.trylock_failures), writer_ops=tuple(writer_ops),
            vmas=layout.vmas, vma_source=layout.source, io_requests=tuple(self.io_requests),
            evictions=self.eviction_count,
        )
        fault_threads = len({fault.tid for fault in faults})
        return Reconstruction(timeline, replace(self.counts), fault_threads)

    def _locked_vmas(self, op: WriterOp, layout: VmaLayout, main_mm: str) -> tuple[int, ...]:
        """The VMAs a writer write-locks: those in its range; a fork, every VMA of its mm (all
        of the layout's, unless the layout is known to be another mm's)."""
        if op.op != "fork":
            return layout.overlapping(op.addr, op.addr + op.length)
        if main_mm and self.threads[op.tid].mm != main_mm:
            return ()
        return layout.every_vma()

    def _build_faults(self, vma_of: Callable[[int], int]) -> list[Fault]:
        mm_by_tid = {thread.tid: thread.mm for thread in self.threads.values()}
        io_latency_by_fault = self.io_latency_by_fault
        faults = []
        for window, tid, facts, refault in sorted(self.closed_faults,
                                                  key=lambda closed: closed[0].fault_id):
            faults.append(w.build_fault(
                window.fault_id, tid, facts.mm or mm_by_tid.get(tid, ""), window.start_ns,
                window.address, window.ip, window.error_code, vma_of(window.address), facts,
                window.io_requests, io_latency_by_fault.get(window.fault_id, 0), refault,
                tuple(window.lines),
            ))
        return faults

    @staticmethod
    def _lane(thread: _Thread) -> ThreadLane:
        spans = thread.lane.spans
        return ThreadLane(thread.tid, thread.tgid, thread.comm, thread.prio,
                          array("q", [start for start, _, _ in spans]),
                          array("q", [end for _, end, _ in spans]),
                          array("B", [state for _, _, state in spans]))

