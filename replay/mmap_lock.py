"""`mmap_lock` of one mm, modelled as the kernel's rwsem (kernel/locking/rwsem.c, 6.12-6.18).

The rules (DOMAIN.md "Lock rules"):

- readers share, a writer is exclusive, waiters queue FIFO;
- any queued waiter sends new readers to the slow path, so readers that arrive after a
  waiting writer wait for it;
- a reader at the head of the queue is woken together with every queued reader (up to
  256, `MAX_READERS_WAKEUP`), writers in between stay queued; a writer at the head is woken
  alone and must then take the lock itself;
- in the gap between a writer's wake-up and its running, the lock is free and a newcomer
  may steal it, unless the head waiter has waited longer than the handoff timeout (~4 ms,
  `RWSEM_WAIT_TIMEOUT`), which sets `RWSEM_FLAG_HANDOFF`;
- a read trylock fails if the lock is write-held *or anyone is queued*;
- `downgrade` turns the writer into a reader and wakes the readers at the head.

Writers' optimistic spinning is not waiting (it shows no contention in a trace); it is
part of the acquire cost the workload replays. A woken waiter runs after a delay drawn
from the recording's hand-over delays (wake-up and the wait for a CPU, which the replay
does not model otherwise); a woken reader already owns the lock while it waits to run
(`rwsem_mark_wake` adds its reader bias for it).
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from replay.engine import Engine

HANDOFF_NS = 4_000_000
MAX_READERS_WAKEUP = 256

# queue entries: (process, write, request_ns)
Waiter = tuple[Any, bool, int]


class MmapLock:
    __slots__ = ("_reader_wakeup_ns", "_rng", "_writer_wakeup_ns", "_writer_waking", "engine",
                 "queue", "readers", "writer")

    def __init__(self, engine: Engine, reader_wakeup_ns: tuple[int, ...] = (),
                 writer_wakeup_ns: tuple[int, ...] = (),
                 rng: random.Random | None = None) -> None:
        self.engine = engine
        self._reader_wakeup_ns = reader_wakeup_ns
        self._writer_wakeup_ns = writer_wakeup_ns
        self._rng = rng or random.Random(0)
        self.readers = 0
        self.writer: Any = None
        self.queue: deque[Waiter] = deque()
        self._writer_waking = False

    # -- readers -------------------------------------------------------------------------
    def try_read(self) -> bool:
        """down_read_trylock: fails on a writer or on any queued waiter (READ_FAILED_MASK)."""
        if self.writer is None and not self.queue:
            self.readers += 1
            return True
        return False

    def read(self, process: Any) -> bool:
        """down_read: True if taken now; False if queued (the caller yields BLOCK and owns
        the lock when resumed)."""
        if self.writer is None and (not self.queue or (self.readers == 0 and not self._handoff())):
            # fast path, or rwsem_down_read_slowpath's lock stealing: the lock is free
            # between a writer's wake-up and its run, and HANDOFF is not set.
            self.readers += 1
            return True
        self.queue.append((process, False, self.engine.now))
        return False

    def release_read(self) -> None:
        self.readers -= 1
        if self.readers == 0 and self.queue:
            self._wake()

    # -- writers -------------------------------------------------------------------------
    def write(self, process: Any) -> bool:
        """down_write: True if taken now; False if queued (the caller yields BLOCK and then
        calls `writer_resumed` until it returns True)."""
        if self.writer is None and self.readers == 0 and (not self.queue or not self._handoff()):
            self.writer = process
            return True
        self.queue.append((process, True, self.engine.now))
        return False

    def try_write(self, process: Any) -> bool:
        """down_write_trylock: succeeds only on a free lock with nobody queued (count 0)."""
        if self.writer is None and self.readers == 0 and not self.queue:
            self.writer = process
            return True
        return False

    def writer_resumed(self, process: Any) -> bool:
        """The woken head writer runs (rwsem_try_write_lock): take the lock if it is free."""
        self._writer_waking = False
        if self.writer is None and self.readers == 0:
            head = self.queue.popleft()
            assert head[0] is process, "only the head writer is woken"
            self.writer = process
            return True
        return False  # a reader stole the lock: stay first in line

    def release_write(self) -> None:
        self.writer = None
        if self.queue:
            self._wake()

    def downgrade(self) -> None:
        """mmap_write_downgrade -> downgrade_write: writer becomes a reader; wake the readers
        at the head (a writer at the head stays blocked until every reader leaves)."""
        self.writer = None
        self.readers += 1
        if self.queue and not self.queue[0][1]:
            self._wake_readers()

    def _delay(self, delays: tuple[int, ...]) -> int:
        if not delays:
            return 0
        return delays[0] if len(delays) == 1 else self._rng.choice(delays)

    # -- internals -----------------------------------------------------------------------
    def _handoff(self) -> bool:
        return bool(self.queue) and self.engine.now - self.queue[0][2] >= HANDOFF_NS

    def _wake(self) -> None:
        """rwsem_mark_wake(RWSEM_WAKE_ANY)."""
        process, write, _ = self.queue[0]
        if write:
            if not self._writer_waking:
                self._writer_waking = True
                self.engine.wake(process, self._delay(self._writer_wakeup_ns))
        else:
            self._wake_readers()

    def _wake_readers(self) -> None:
        keep: deque[Waiter] = deque()
        batch: list[Any] = []
        for waiter in self.queue:
            if waiter[1] or len(batch) >= MAX_READERS_WAKEUP:
                keep.append(waiter)
            else:
                batch.append(waiter[0])
        # the batch is woken in queue order and gets CPUs one after another: one recorded
        # hand-over delay for the batch, spread over its readers
        last = self._delay(self._reader_wakeup_ns)
        count = len(batch)
        wake = self.engine.wake
        for position, process in enumerate(batch, 1):
            wake(process, last * position // count)
        self.readers += count
        self.queue = keep

    @property
    def queued(self) -> int:
        return len(self.queue)
