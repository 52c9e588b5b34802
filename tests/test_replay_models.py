"""Unit tests of the replay's building blocks: engine, mmap_lock rwsem, VMA lock, page cache,
storage. Each lock rule of DOMAIN.md "Lock rules" has a test named after it."""

from __future__ import annotations

import random
from collections.abc import Generator

import pytest

from replay.engine import BLOCK, Engine
from replay.mmap_lock import HANDOFF_NS, MAX_READERS_WAKEUP, MmapLock
from replay.page_cache import ABSENT, PageCache
from replay.storage import Storage
from replay.vma_lock import VmaLock


class WakeLog(Engine):
    """An engine that only records whom it was asked to wake."""

    def __init__(self) -> None:
        super().__init__()
        self.woken: list[object] = []

    def wake(self, process: object, delay_ns: int = 0) -> None:
        self.woken.append(process)


class Proc:
    """A process that runs a scripted generator and logs what happened when."""

    def __init__(self, engine: Engine, name: str, script: Generator[int, None, None],
                 prio: int = 120) -> None:
        self.name = name
        self.prio = prio
        self.resume = script.send
        self.engine = engine


def test_engine_orders_by_time_then_priority_then_sequence() -> None:
    engine = Engine()
    log: list[tuple[int, str]] = []

    def script(name: str, delays: list[int]) -> Generator[int, None, None]:
        for delay in delays:
            log.append((engine.now, name))
            yield delay
        log.append((engine.now, name))

    engine.start(Proc(engine, "low", script("low", [10]), prio=139), 0)
    engine.start(Proc(engine, "high", script("high", [10]), prio=100), 0)
    engine.start(Proc(engine, "normal-a", script("normal-a", [10]), prio=120), 0)
    engine.start(Proc(engine, "normal-b", script("normal-b", [10]), prio=120), 0)
    engine.run()
    assert log == [(0, "high"), (0, "normal-a"), (0, "normal-b"), (0, "low"),
                   (10, "high"), (10, "normal-a"), (10, "normal-b"), (10, "low")]
    assert engine.events == 8


def test_engine_block_and_wake() -> None:
    engine = Engine(1000)
    log: list[int] = []
    sleeper: Proc

    def sleeping() -> Generator[int, None, None]:
        yield BLOCK
        log.append(engine.now)

    def waker() -> Generator[int, None, None]:
        yield 50
        engine.wake(sleeper, 7)

    sleeper = Proc(engine, "sleeper", sleeping())
    engine.start(sleeper, 1000)
    engine.start(Proc(engine, "waker", waker()), 1000)
    engine.run()
    assert log == [1057]


# -- mmap_lock ----------------------------------------------------------------------------

class LockUser:
    """Drives an MmapLock from scripted processes and records acquisition times."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.lock = MmapLock(self.engine)
        self.acquired: list[tuple[str, int]] = []

    def reader(self, name: str, at: int, hold: int) -> None:
        def script() -> Generator[int, None, None]:
            yield at
            if not self.lock.read(proc):
                yield BLOCK
            self.acquired.append((name, self.engine.now))
            yield hold
            self.lock.release_read()

        proc = Proc(self.engine, name, script())
        self.engine.start(proc, 0)

    def writer(self, name: str, at: int, hold: int, downgrade_hold: int = -1) -> None:
        def script() -> Generator[int, None, None]:
            yield at
            if not self.lock.write(proc):
                yield BLOCK
                while not self.lock.writer_resumed(proc):
                    yield BLOCK
            self.acquired.append((name, self.engine.now))
            yield hold
            if downgrade_hold >= 0:
                self.lock.downgrade()
                yield downgrade_hold
                self.lock.release_read()
            else:
                self.lock.release_write()

        proc = Proc(self.engine, name, script())
        self.engine.start(proc, 0)


def test_readers_share_writer_is_exclusive() -> None:
    user = LockUser()
    user.reader("r1", 0, 100)
    user.reader("r2", 10, 100)
    user.writer("w", 20, 50)
    user.engine.run()
    assert user.acquired == [("r1", 0), ("r2", 10), ("w", 110)]


def test_queued_writer_blocks_new_readers() -> None:
    user = LockUser()
    user.reader("r1", 0, 100)
    user.writer("w", 10, 50)
    user.reader("r2", 20, 10)  # arrives after the waiting writer: waits for it
    user.engine.run()
    assert user.acquired == [("r1", 0), ("w", 100), ("r2", 150)]


def test_reader_batch_wakes_every_queued_reader_writers_stay() -> None:
    user = LockUser()
    user.writer("w1", 0, 100)
    user.reader("r1", 10, 30)
    user.writer("w2", 20, 10)
    user.reader("r2", 30, 30)
    user.engine.run()
    # r1 heads the queue when w1 releases: r1 and r2 are woken together, w2 stays queued
    assert user.acquired == [("w1", 0), ("r1", 100), ("r2", 100), ("w2", 130)]


def test_reader_batch_is_capped() -> None:
    engine = WakeLog()
    lock = MmapLock(engine)
    assert lock.write(object())
    waiters = [object() for _ in range(MAX_READERS_WAKEUP + 5)]
    for waiter in waiters:
        assert not lock.read(waiter)
    lock.release_write()
    assert engine.woken == waiters[:MAX_READERS_WAKEUP]
    assert lock.readers == MAX_READERS_WAKEUP and lock.readers == MAX_READERS_WAKEUP
    assert lock.queued == 5


def test_writer_at_head_is_woken_alone() -> None:
    user = LockUser()
    user.reader("r1", 0, 100)
    user.writer("w1", 10, 50)
    user.writer("w2", 20, 50)
    user.engine.run()
    assert user.acquired == [("r1", 0), ("w1", 100), ("w2", 150)]


def test_trylock_fails_when_anyone_is_queued() -> None:
    engine = WakeLog()
    lock = MmapLock(engine)
    assert lock.try_read()  # free
    assert lock.try_read()  # shared with a reader
    assert not lock.write(object())  # a writer queues behind the readers
    assert not lock.try_read()  # the lock is only read-held, but someone is queued
    lock.release_read()
    lock.release_read()


def test_trylock_fails_on_a_writer() -> None:
    lock = MmapLock(Engine())
    assert lock.write(object())
    assert not lock.try_read()
    assert not lock.try_write(object())


def test_write_trylock_needs_a_free_lock_and_an_empty_queue() -> None:
    lock = MmapLock(WakeLog())
    assert lock.try_read()
    assert not lock.try_write(object())
    lock.release_read()
    assert lock.try_write(object())


def test_downgrade_wakes_readers_at_the_head() -> None:
    user = LockUser()
    user.writer("munmap", 0, 100, downgrade_hold=200)
    user.reader("r1", 10, 10)
    user.engine.run()
    assert user.acquired == [("munmap", 0), ("r1", 100)]  # not 300: readers share with it


def test_downgrade_keeps_a_head_writer_waiting_for_all_readers() -> None:
    user = LockUser()
    user.writer("munmap", 0, 100, downgrade_hold=200)
    user.writer("w2", 10, 10)
    user.reader("r1", 20, 10)
    user.engine.run()
    assert user.acquired == [("munmap", 0), ("w2", 300), ("r1", 310)]


def test_reader_steals_while_the_woken_writer_is_not_running_yet() -> None:
    engine = Engine()
    lock = MmapLock(engine, writer_wakeup_ns=(1000,))
    user = LockUser()
    user.engine, user.lock = engine, lock
    user.reader("r1", 0, 100)
    user.writer("w", 10, 50)
    user.reader("r2", 500, 10)  # lock free, writer woken at 100 runs at 1100: r2 steals
    engine.run()
    assert user.acquired == [("r1", 0), ("r2", 500), ("w", 1100)]


def test_handoff_stops_stealing_after_4ms() -> None:
    engine = Engine()
    lock = MmapLock(engine, writer_wakeup_ns=(1000,))
    user = LockUser()
    user.engine, user.lock = engine, lock
    user.reader("r1", 0, HANDOFF_NS + 100)
    user.writer("w", 10, 50)  # waits more than 4 ms: HANDOFF
    user.reader("r2", HANDOFF_NS + 500, 10)  # in the wake-up gap, but may not steal
    engine.run()
    writer_at = HANDOFF_NS + 100 + 1000
    assert user.acquired == [("r1", 0), ("w", writer_at), ("r2", writer_at + 50)]


# -- VMA lock ------------------------------------------------------------------------------

def test_vma_readers_never_wait_and_fail_while_write_locked() -> None:
    engine = WakeLog()
    vma = VmaLock()
    assert vma.try_read()
    writer = object()
    assert not vma.start_write(writer)  # waits for the reader
    assert not vma.try_read()  # a writer is waiting: new readers fail at once
    vma.release_read(engine)
    assert engine.woken == [writer]
    vma.writer_resumed()
    assert not vma.try_read()  # write-locked until the mmap write section ends
    vma.end_write()
    assert vma.try_read()


def test_vma_start_write_is_immediate_without_readers_and_idempotent() -> None:
    vma = VmaLock()
    assert vma.start_write(object())
    assert vma.start_write(object())  # already locked in this section
    vma.end_write()
    assert vma.try_read()


# -- page cache ---------------------------------------------------------------------------

def test_page_cache_lru_evicts_least_recently_used() -> None:
    cache = PageCache(capacity_pages=2)
    cache.insert(1, 0, 0)
    cache.insert(2, 0, 0)
    cache.lock_folio(1, 0)  # 1 is used again: 2 is now the oldest
    cache.insert(3, 0, 0)
    assert cache.ready_ns(2) == ABSENT and cache.ready_ns(1) == 0 and cache.ready_ns(3) == 0
    assert cache.evictions == 1


def test_page_cache_never_evicts_a_locked_folio() -> None:
    cache = PageCache(capacity_pages=1)
    cache.insert(1, 500, 0)  # read in flight until 500
    cache.insert(2, 600, 10)
    assert cache.ready_ns(1) == 500 and cache.ready_ns(2) == 600  # both locked: over capacity
    cache.insert(3, 900, 700)  # now 1 and 2 are uptodate and unlocked
    assert cache.ready_ns(1) == ABSENT and cache.ready_ns(2) == ABSENT
    assert cache.evictions == 2


def test_page_cache_evicts_a_read_but_unmapped_page_before_mapped_older_ones() -> None:
    # the Wilcox case: a page read while its fault dropped the lock, not mapped yet
    cache = PageCache(capacity_pages=4)
    for key in (1, 2, 3):
        cache.insert(key, 0, 0)
        cache.lock_folio(key, 0)  # mapped: accessed bit set
    cache.insert(4, 0, 0)  # read, waiting for its retry
    cache.insert(5, 0, 0)  # over capacity: 1-3 get a second trip, 4 goes
    assert cache.ready_ns(4) == ABSENT
    assert all(cache.ready_ns(key) == 0 for key in (1, 2, 3, 5))
    assert list(cache.inactive) == [5, ~1, ~2, ~3]  # ~key: PG_referenced set
    assert not any(cache.young)
    cache.insert(6, 0, 0)  # 5 was never mapped, and the rotated pages went to the head
    assert cache.ready_ns(5) == ABSENT and cache.evictions == 2
    cache.insert(7, 0, 0)  # 1-3 were not accessed again: the oldest of them goes now
    assert cache.ready_ns(1) == ABSENT and cache.evictions == 3


def test_page_cache_activates_a_page_accessed_twice_and_refills_inactive() -> None:
    cache = PageCache(capacity_pages=3)
    cache.insert(1, 0, 0)
    cache.lock_folio(1, 0)
    cache.insert(2, 0, 0)
    cache.insert(3, 0, 0)
    cache.insert(4, 0, 0)  # 1 rotated (referenced), 2 evicted
    cache.lock_folio(1, 0)  # accessed again before reclaim looks at it again
    cache.insert(5, 0, 0)  # 3 evicted
    cache.insert(6, 0, 0)  # 4 evicted
    cache.insert(7, 0, 0)  # 1 (accessed twice) goes to the active list; 5 evicted
    assert list(cache.active) == [1] and cache.activations == 1
    assert cache.ready_ns(1) == 0
    cache.insert(8, 0, 0)
    cache.insert(9, 0, 0)  # unmapped pages churn through the inactive list; 1 stays
    assert list(cache.active) == [1] and list(cache.inactive) == [8, 9]


def _put_active(cache: PageCache, key: int) -> None:
    """Make `key` a cached page on the active list (a workingset page)."""
    cache.reserve(key + 1)
    cache.ready[key] = cache.folio_locks[key] = 0
    cache.resident += 1
    cache.active.append(key)


def test_page_cache_refills_a_low_inactive_list_from_the_active_tail() -> None:
    cache = PageCache(capacity_pages=4)
    for key in (10, 11, 12):
        _put_active(cache, key)
    cache.young[10] = True
    cache.insert(1, 0, 0)
    cache.insert(2, 0, 0)  # inactive 2 < active 3 (ratio 1 below 1 GiB): 10 deactivated
    assert list(cache.active) == [11, 12] and list(cache.inactive) == [2, 10]
    assert not cache.young[10] and cache.ready_ns(1) == ABSENT


def test_page_cache_refault_of_a_recently_evicted_page_goes_active() -> None:
    cache = PageCache(capacity_pages=2)
    _put_active(cache, 100)  # a workingset page (active list of 1)
    cache.insert(1, 0, 0)
    cache.insert(2, 0, 0)  # 1 evicted: nothing was evicted after it yet
    assert cache.ready_ns(1) == ABSENT and cache.shadow_ages() == {1: 0}
    cache.insert(1, 0, 0)  # refault distance 1 <= active size 1: activated
    assert 1 in cache.active and cache.activations == 1


def test_page_cache_unlimited_keeps_everything_and_starts_resident() -> None:
    cache = PageCache(None, resident=[7, 8])
    for key in range(100):
        cache.insert(100 + key, 0, 0)
    assert cache.ready_ns(7) == 0 and len(cache) == 102 and cache.evictions == 0


# -- storage ------------------------------------------------------------------------------

def test_storage_observed_and_scaled() -> None:
    storage = Storage(random.Random(0), [100], latency_scale=2.5)
    assert storage.read(1000, 400) == 2000


def test_storage_samples_recorded_latency_when_the_fault_had_none() -> None:
    observed = [100, 200, 300]
    first = [Storage(random.Random(5), observed).read(0, 0) for _ in range(3)]
    again = [Storage(random.Random(5), observed).read(0, 0) for _ in range(3)]
    assert first == again and set(first) <= set(observed)


def test_storage_queue_model_serves_depth_requests_at_once() -> None:
    storage = Storage(random.Random(0), [100], model="queue", queue_depth=2, service_ns=100)
    assert [storage.read(0, 1) for _ in range(5)] == [100, 100, 200, 200, 300]
    assert storage.read(1000, 1) == 1100


@pytest.mark.parametrize("kwargs", [{"latency_scale": 0}, {"queue_depth": 0}, {"model": "x"}])
def test_storage_rejects_bad_knobs(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Storage(random.Random(0), [1], **kwargs)  # type: ignore[arg-type]
