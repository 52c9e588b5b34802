"""One replayed thread: runs its program, with the uncontended minor faults inline, and
replays writers and lock sections. The fault path itself is in `replay.fault_path`, the
span bookkeeping in `replay.spans`."""

from __future__ import annotations

from faulttui.model.timeline import (
    AttemptLock,
    AttemptOutcome,
    LockHold,
    SpanState,
    ThreadLane,
    TrylockFailure,
    WriterOp,
)
from replay.engine import BLOCK, ProcessGenerator
from replay.fault_path import fault_path
from replay.policies import BuiltinPolicy
from replay.spans import PACK_AT, USER, SpanRecorder
from replay.vma_lock import VmaLock
from replay.workload import FaultSpec, LockSection, ThreadProgram, WriterSpec
from replay.world import World

SYSCALL = int(SpanState.SYSCALL)
WAIT_MMAP_READ = int(SpanState.WAIT_MMAP_READ)
WAIT_MMAP_WRITE = int(SpanState.WAIT_MMAP_WRITE)
HOLD_MMAP_WRITE = int(SpanState.HOLD_MMAP_WRITE)
HOLD_MMAP_READ = int(SpanState.HOLD_MMAP_READ)
FAULT_VMA = int(SpanState.FAULT_VMA)
VMA = AttemptLock.VMA
MMAP_READ = AttemptLock.MMAP_READ
DONE = AttemptOutcome.DONE


class ThreadRunner(SpanRecorder):
    """A process of the engine (`prio`, `resume`) that replays one ThreadProgram."""

    fast_path = True  # False: every fault through fault_path (tests compare the two)

    __slots__ = ("finished", "prio", "program", "resume", "tid", "world")

    def __init__(self, program: ThreadProgram, world: World) -> None:
        super().__init__(world.engine)
        self.program = program
        self.world = world
        self.tid = program.tid
        self.prio = program.prio
        self.finished = False
        self.resume = self._run().send

    def lane(self, end_ns: int) -> ThreadLane:
        """The thread's lane: its spans, the last one closed at `end_ns`."""
        return self.lane_of(self.program, end_ns)

    def _run(self) -> ProcessGenerator:
        world = self.world
        engine = self.engine
        policy = world.policy
        # a built-in policy's first lock does not depend on the fault: ask once
        first_lock = policy.first_lock if type(policy) is not BuiltinPolicy else None
        fixed_first = VMA if type(policy) is BuiltinPolicy and policy.use_vma_lock else MMAP_READ
        fast_lock = VMA if self.fast_path else None  # the first lock of a fast-path fault
        page_cache = world.page_cache
        folio_locks = page_cache.folio_locks
        young = page_cache.young
        add_uncontended = world.uncontended.extend
        pages = world.pages
        page_count = len(pages)
        add_span = self.spans.extend
        tid = self.tid
        locks_of = world.fault_locks
        vma_lock = VmaLock()  # a placeholder: the first fault looks its lock up
        vma_mm: str | None = None
        vma_id = -1
        now = engine.now  # kept equal to engine.now at the top of the loop
        for op in self.program.ops:
            gap = op.gap_ns
            if gap > 0:
                yield gap
                now = engine.now
            if type(op) is FaultSpec:
                first = fixed_first if first_lock is None else first_lock(op)
                # Fast path, the same records as fault_path: a fault that gets its VMA lock
                # and finds its page uptodate and unlocked (or anonymous) maps it at once.
                if first is fast_lock and op.fallback_cpu_ns < 0 and not op.nested_reads:
                    key = op.page_key
                    # (a resident page's folio lock covers its read in flight; a key beyond
                    # the workload's pages, which the page cache may not hold, goes the
                    # slow way)
                    if key < 0 or (key < page_count and 0 <= folio_locks[key] <= now):
                        if op.vma_id != vma_id or op.mm != vma_mm:
                            vma_mm, vma_id = op.mm, op.vma_id
                            vma_lock = locks_of(vma_mm, vma_id)[1]
                        # VmaLock.try_read, inlined
                        if not vma_lock.write_locked and vma_lock.writer is None:
                            vma_lock.readers += 1
                            cpu = op.cpu_ns
                            if cpu > 0:
                                end = now + cpu
                            else:
                                end = now
                                cpu = 0
                            if key >= 0:
                                # PageCache.lock_folio: locked while mapped, accessed bit set
                                folio_locks[key] = end if cpu else now + op.cpu_ns
                                young[key] = True
                            # self.to(FAULT_VMA) now, self.to(USER) at `end`, inlined: every
                            # operation starts and ends in USER
                            since = self.since
                            if now > since:
                                add_span((since, now, USER))
                            if cpu:
                                add_span((now, end, FAULT_VMA))
                            self.since = end
                            start = now
                            if cpu:
                                yield cpu
                                # equal to engine.now; the spans and columns then share one int
                                now = end
                            # VmaLock.release_read, inlined
                            vma_lock.readers -= 1
                            if vma_lock.writer is not None and not vma_lock.readers:
                                engine.wake(vma_lock.writer)
                            # its row of FaultTable's columns (UNCONTENDED_FIELDS, in that
                            # order): the record is made only if something reads it
                            add_uncontended((op.fault_id, tid, vma_mm, start, end, op.address,
                                             vma_id, key))
                            continue
                if len(self.spans) >= PACK_AT:
                    self.pack_spans()
                yield from fault_path(self, op, first)
            elif type(op) is WriterSpec:
                if len(self.spans) >= PACK_AT:
                    self.pack_spans()
                yield from self._writer(op)
            else:
                assert type(op) is LockSection
                yield from self._section(op)
            now = engine.now
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
