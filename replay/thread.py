"""One replayed thread: runs its program, keeps its spans, and replays writers and lock
sections. The fault path itself is in `replay.fault_path`."""

from __future__ import annotations

from array import array

from faulttui.model.timeline import (
    Attempt,
    AttemptLock,
    AttemptOutcome,
    Fault,
    LockHold,
    SpanState,
    ThreadLane,
    TrylockFailure,
    WriterOp,
)
from replay.engine import BLOCK, ProcessGenerator
from replay.fault_path import fault_path
from replay.page_cache import ABSENT
from replay.policies import BuiltinPolicy
from replay.workload import FaultSpec, LockSection, ThreadProgram, WriterSpec
from replay.world import World

USER = int(SpanState.USER)
SYSCALL = int(SpanState.SYSCALL)
WAIT_MMAP_READ = int(SpanState.WAIT_MMAP_READ)
WAIT_MMAP_WRITE = int(SpanState.WAIT_MMAP_WRITE)
HOLD_MMAP_WRITE = int(SpanState.HOLD_MMAP_WRITE)
HOLD_MMAP_READ = int(SpanState.HOLD_MMAP_READ)
FAULT_VMA = int(SpanState.FAULT_VMA)
VMA = AttemptLock.VMA
MMAP_READ = AttemptLock.MMAP_READ
DONE = AttemptOutcome.DONE
# the records built directly (NamedTuple's keyword __new__ costs a Python call per record)
new_fault = tuple.__new__
new_attempt = tuple.__new__


class ThreadRunner:
    """A process of the engine (`prio`, `resume`) that replays one ThreadProgram."""

    __slots__ = ("engine", "finished", "mark", "marks", "prio", "program", "resume", "start_ns",
                 "tid", "world")

    def __init__(self, program: ThreadProgram, world: World) -> None:
        self.program = program
        self.world = world
        self.engine = world.engine
        self.tid = program.tid
        self.prio = program.prio
        self.finished = False
        self.start_ns = world.engine.now
        # time and state each time the thread's state changes; spans are made at the end
        # (cheaper in the hot path than closing a span at every change)
        # flat: time, state, time, state... (`mark((t, s))` extends it: no tuple is kept)
        self.marks: list[int] = []
        self.mark = self.marks.extend
        self.resume = self._run().send

    def to(self, state: int) -> None:
        """Switch the thread's span state now."""
        self.marks += (self.engine.now, state)

    def lane(self, end_ns: int) -> ThreadLane:
        """The thread's lane: its spans from the state changes, the last one up to `end_ns`."""
        starts: array[int] = array("q")
        ends: array[int] = array("q")
        states: array[int] = array("B")
        add_start, add_end, add_state = starts.append, ends.append, states.append
        since = self.start_ns
        current = USER
        marks = self.marks
        marks += (end_ns, -1)
        pairs = iter(marks)
        for at, state in zip(pairs, pairs, strict=True):
            if state != current:
                if at > since:
                    add_start(since)
                    add_end(at)
                    add_state(current)
                    since = at
                current = state
        del marks[-2:]
        program = self.program
        return ThreadLane(program.tid, program.tgid, program.comm, program.prio, starts, ends,
                          states)

    def _run(self) -> ProcessGenerator:
        world = self.world
        engine = self.engine
        policy = world.policy
        # a built-in policy's first lock does not depend on the fault: ask once
        first_lock = policy.first_lock if type(policy) is not BuiltinPolicy else None
        fixed_first = VMA if type(policy) is BuiltinPolicy and policy.use_vma_lock else MMAP_READ
        page_cache = world.page_cache
        folio_locks = page_cache.folio_locks
        mark_young = page_cache.young.add
        add_fault = world.faults.append
        pages = world.pages
        page_count = len(pages)
        mark = self.mark
        tid = self.tid
        locks_of = world.fault_locks
        vma_lock = None
        vma_mm = ""
        vma_id = -1
        for op in self.program.ops:
            if op.gap_ns > 0:
                yield op.gap_ns
            if type(op) is FaultSpec:
                # Fast path, the same records as fault_path: a fault that gets its VMA lock
                # and finds its page uptodate and unlocked (or anonymous) maps it at once.
                key = op.page_key
                now = engine.now
                first = fixed_first if first_lock is None else first_lock(op)
                # (a resident page's folio lock covers its read in flight)
                if first is VMA and op.fallback_cpu_ns < 0 and not op.nested_reads and (
                        key < 0 or 0 <= folio_locks.get(key, ABSENT) <= now):
                    if op.vma_id != vma_id or op.mm != vma_mm:
                        vma_mm, vma_id = op.mm, op.vma_id
                        vma_lock = locks_of(vma_mm, vma_id)[1]
                    assert vma_lock is not None
                    if vma_lock.try_read():
                        mark((now, FAULT_VMA))
                        cpu = op.cpu_ns
                        if key >= 0:
                            # PageCache.lock_folio: the folio locked while mapped, accessed bit set
                            folio_locks[key] = now + cpu
                            mark_young(key)
                        if cpu > 0:
                            yield cpu
                        vma_lock.release_read(engine)
                        end = engine.now
                        mark((end, USER))
                        add_fault(new_fault(Fault, (
                            op.fault_id, tid, op.mm, now, end, op.address, 0, 0, op.vma_id,
                            pages[key] if 0 <= key < page_count else None,
                            (new_attempt(Attempt, (VMA, now, end, DONE, 0, False, 0)),), 0, 0, 0,
                            end - now, None, None, False, False, False, False, True, ())))
                        continue
                yield from fault_path(self, op, first)
            elif type(op) is WriterSpec:
                yield from self._writer(op)
            else:
                assert type(op) is LockSection
                yield from self._section(op)
        self.finished = True

    def _writer(self, op: WriterSpec) -> ProcessGenerator:
        world = self.world
        engine = world.engine
        start = engine.now
        self.to(SYSCALL)
        if op.before_lock_ns > 0:
            yield op.before_lock_ns
        wait_ns = hold_ns = 0
        if op.mode == "write":
            mmap_lock = world.mmap_lock(op.mm)
            request = engine.now
            if not mmap_lock.write(self):
                self.to(WAIT_MMAP_WRITE)
                yield BLOCK
                while not mmap_lock.writer_resumed(self):
                    yield BLOCK
            acquired = engine.now
            self.to(HOLD_MMAP_WRITE)
            vma_ids = op.vma_ids
            if op.op == "fork" and not vma_ids:
                vma_ids = world.vma_ids_by_mm.get(op.mm, ())
            locked = []
            for vma_id in vma_ids:
                vma_lock = world.vma_lock(op.mm, vma_id)
                if not vma_lock.start_write(self):
                    yield BLOCK  # vma_start_write waits for the VMA's readers to leave
                    vma_lock.writer_resumed()
                locked.append(vma_lock)
            hold_left_ns = op.hold_ns
            if op.nested_mm:  # (part of the recorded hold, not added to it)
                yield from self._nested_write(op)
                hold_left_ns -= op.nested_after_ns + op.nested_hold_ns
            if hold_left_ns > 0:
                yield hold_left_ns
            for vma_lock in locked:
                vma_lock.end_write()
            wait_ns = acquired - request
            hold_ns = engine.now - acquired
            yield from self._end_write_section(op.mm, request, acquired, op.downgraded_ns,
                                               "writer", False)
        elif op.mode == "read":
            yield from self._section(LockSection(0, op.mm, False, op.hold_ns), "writer")
        elif op.hold_ns > 0:
            yield op.hold_ns
        self.to(SYSCALL)
        if op.after_ns > 0:
            yield op.after_ns
        self.to(USER)
        world.writer_ops.append(WriterOp(
            tid=self.tid, op=op.op, start_ns=start, end_ns=engine.now, addr=op.addr,
            length=op.length, ret=op.ret, mmap_write_wait_ns=wait_ns, mmap_write_hold_ns=hold_ns,
            downgraded=op.downgraded_ns >= 0, vma_ids=op.vma_ids))

    def _nested_write(self, op: WriterSpec) -> ProcessGenerator:
        """dup_mmap's write lock of the child's new mm, inside the caller's write hold."""
        if op.nested_after_ns > 0:
            yield op.nested_after_ns
        engine = self.engine
        nested_lock = self.world.mmap_lock(op.nested_mm)
        request = engine.now
        if not nested_lock.write(self):
            yield BLOCK
            while not nested_lock.writer_resumed(self):
                yield BLOCK
        acquired = engine.now
        if op.nested_hold_ns > 0:
            yield op.nested_hold_ns
        yield from self._end_write_section(op.nested_mm, request, acquired, -1, "writer", False)

    def _end_write_section(self, mm: str, request: int, acquired: int, downgraded_ns: int,
                           purpose: str, trylock: bool) -> ProcessGenerator:
        """mmap_write_unlock, or mmap_write_downgrade then the read hold and its unlock."""
        world = self.world
        engine = world.engine
        mmap_lock = world.mmap_lock(mm)
        now = engine.now
        world.holds.append(LockHold(mm, self.tid, True, request, acquired, now, trylock=trylock,
                                    purpose=purpose, contended_ns=acquired - request))
        if downgraded_ns < 0:
            mmap_lock.release_write()
            return
        mmap_lock.downgrade()
        self.to(HOLD_MMAP_READ)
        if downgraded_ns > 0:
            yield downgraded_ns
        mmap_lock.release_read()
        world.holds.append(LockHold(mm, self.tid, False, now, now, engine.now, downgrade=True,
                                    purpose=purpose))

    def _section(self, op: LockSection, purpose: str = "other") -> ProcessGenerator:
        world = self.world
        engine = world.engine
        mmap_lock = world.mmap_lock(op.mm)
        request = engine.now
        if op.trylock:
            taken = mmap_lock.try_write(self) if op.write else mmap_lock.try_read()
            if not taken:
                world.trylock_failures.append(TrylockFailure(op.mm, self.tid, request, op.write))
                return
        elif op.write:
            if not mmap_lock.write(self):
                self.to(WAIT_MMAP_WRITE)
                yield BLOCK
                while not mmap_lock.writer_resumed(self):
                    yield BLOCK
        elif not mmap_lock.read(self):
            self.to(WAIT_MMAP_READ)
            yield BLOCK
        acquired = engine.now
        self.to(HOLD_MMAP_WRITE if op.write else HOLD_MMAP_READ)
        if op.hold_ns > 0:
            yield op.hold_ns
        if op.write:
            yield from self._end_write_section(op.mm, request, acquired, op.downgraded_ns,
                                               purpose, op.trylock)
        else:
            mmap_lock.release_read()
            world.holds.append(LockHold(op.mm, self.tid, False, request, acquired, engine.now,
                                        trylock=op.trylock, purpose=purpose,
                                        contended_ns=acquired - request))
        self.to(USER)
