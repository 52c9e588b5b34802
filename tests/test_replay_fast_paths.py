"""The replay's shortcuts give exactly what the plain algorithms give.

- `PageCache` keeps its per-page state in lists indexed by key, inserts a read-around
  window at once when it can, and lets reclaim run down the inactive tail without
  re-checking what cannot change: compared here, operation by operation, with the plain
  dict-based model it replaced (`ReferencePageCache`, the reclaim of mm/vmscan.c as
  page_cache.py describes it).
- `ThreadRunner` inlines uncontended minor faults (the fast path): compared with
  `fault_path` on the same faults.
- `SpanRecorder` closes a thread's spans as its state changes and packs the old ones:
  compared with spans made at the end from the list of state changes.
- `simulate` freezes its records in the cyclic GC: it must leave no reference cycle.
"""

from __future__ import annotations

import gc
import math
import random
from collections import deque
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faulttui.model.timeline import FilePage, SpanState, Timeline
from replay import (
    FaultSpec,
    ReplayParams,
    ThreadProgram,
    Workload,
    WriterSpec,
    get_policy,
    simulate,
)
from replay.engine import Engine
from replay.page_cache import ABSENT, GIB_PAGES, RECLAIM_BATCH, PageCache
from replay.policies import BuiltinPolicy, Policy
from replay.spans import SpanRecorder
from replay.thread import ThreadRunner
from replay.workload import NO_PAGE, Operation


class ReferencePageCache:
    """The page cache as a dict-based model, one page at a time (replay/page_cache.py
    before its state moved into lists)."""

    def __init__(self, capacity: int | None, resident: Iterable[int] = ()) -> None:
        self.capacity = capacity
        self.ready: dict[int, int] = {}
        self.locks: dict[int, int] = {}
        self.inactive: deque[int] = deque()
        self.active: deque[int] = deque()
        self.young: set[int] = set()
        self.pins: dict[int, int] = {}
        self.shadows: dict[int, int] = {}
        self.age = self.evictions = self.activations = 0
        for key in resident:
            if key not in self.ready:
                self.ready[key] = self.locks[key] = 0
                self.inactive.append(key)
        if capacity is not None:
            while len(self.ready) > capacity:
                key = self.inactive.popleft()
                del self.ready[key], self.locks[key]

    def lock_folio(self, key: int, until: int) -> None:
        if key in self.locks:
            self.locks[key] = until
            self.young.add(key)

    def pin(self, key: int, until: int) -> None:
        if key in self.ready and until > self.pins.get(key, 0):
            self.pins[key] = until

    def insert(self, key: int, ready: int, now: int) -> None:
        if key in self.ready:
            self.ready[key] = self.locks[key] = ready
            return
        self.ready[key] = self.locks[key] = ready
        if key in self.shadows:
            self._refault(key)
        else:
            self.inactive.append(key)
        if self.capacity is not None and len(self.ready) > self.capacity:
            self._reclaim(now)

    def insert_absent(self, first: int, end: int, ready: int, now: int) -> None:
        for key in range(first, end):
            if key not in self.ready:
                self.insert(key, ready, now)

    def _refault(self, key: int) -> None:
        shadow = self.shadows.pop(key)
        if self.age - shadow <= len(self.active):
            self.active.append(key)
            self.age += 1
            self.activations += 1
        else:
            self.inactive.append(key)

    def _reclaim(self, now: int) -> None:
        assert self.capacity is not None
        ratio = math.isqrt(10 * (self.capacity // GIB_PAGES)) or 1
        excess = len(self.ready) - (self.capacity - min(RECLAIM_BATCH - 1, self.capacity // 8))
        rotated = 0
        while excess > 0:
            if self.active and len(self.inactive) * ratio < len(self.active):
                key = self.active.popleft()
                self.young.discard(key)
                self.inactive.append(key)
                continue
            if not self.inactive or (rotated and rotated > len(self.inactive)):
                break
            entry = self.inactive.popleft()
            key = ~entry if entry < 0 else entry
            if self.locks[key] > now or self.pins.get(key, 0) > now:
                self.inactive.append(entry)
                rotated += 1
            elif key in self.young:
                self.young.remove(key)
                if entry < 0:
                    self.active.append(key)
                    self.age += 1
                    self.activations += 1
                else:
                    self.inactive.append(~key)
            else:
                del self.ready[key], self.locks[key]
                self.shadows[key] = self.age
                self.age += 1
                self.evictions += 1
                excess -= 1


def assert_same(cache: PageCache, reference: ReferencePageCache, keys: int) -> None:
    for key in range(keys):
        assert cache.ready_ns(key) == reference.ready.get(key, ABSENT), key
        assert cache.folio_locked_until(key) == reference.locks.get(key, 0), key
    assert list(cache.inactive) == list(reference.inactive)
    assert list(cache.active) == list(reference.active)
    assert {key for key, young in enumerate(cache.young) if young} == reference.young
    assert cache.shadow_ages() == reference.shadows
    assert (len(cache), cache.evictions, cache.activations) == (
        len(reference.ready), reference.evictions, reference.activations)


@settings(max_examples=300, deadline=None)
@given(capacity=st.one_of(st.none(), st.integers(1, 12)), seed=st.integers(0, 2**32 - 1),
       key_limit=st.sampled_from([0, 8, 40]))
def test_page_cache_matches_the_reference_model(capacity: int | None, seed: int,
                                                key_limit: int) -> None:
    rng = random.Random(seed)
    keys = 40
    resident = [rng.randrange(keys) for _ in range(rng.randrange(6))]
    cache = PageCache(capacity, resident, key_limit)
    reference = ReferencePageCache(capacity, resident)
    now = 0
    for _ in range(120):
        now += rng.choice((0, 1, 3, 10))
        action = rng.random()
        key = rng.randrange(keys)
        ready = now + rng.choice((0, 0, 5, 20))
        if action < 0.3:
            cache.insert(key, ready, now)
            reference.insert(key, ready, now)
        elif action < 0.5:
            end = min(keys, key + rng.randrange(1, 10))
            cache.insert_absent(key, end, ready, now)
            reference.insert_absent(key, end, ready, now)
        elif action < 0.8:
            until = now + rng.choice((0, 2, 15))
            cache.lock_folio(key, until)
            reference.lock_folio(key, until)
        else:  # a fault sleeps on the page holding a reference
            until = now + rng.choice((1, 5, 30))
            cache.pin(key, until)
            reference.pin(key, until)
        assert_same(cache, reference, keys)


def test_page_cache_reclaim_of_a_large_cache_matches_the_reference_model() -> None:
    # the long runs down the inactive tail: windows of read-around, each page mapped once
    rng = random.Random(7)
    capacity = 600
    cache = PageCache(capacity, (), 4000)
    reference = ReferencePageCache(capacity)
    now = 0
    for window in range(100):
        first = window * 32
        now += 10
        for target in (cache, reference):
            target.insert(first, now + 5, now)
            target.insert_absent(first + 1, first + 32, now + 5, now)
        for key in rng.sample(range(max(0, first - 200), first + 32), 24):
            until = now + rng.choice((0, 20))
            cache.lock_folio(key, until)
            reference.lock_folio(key, until)
        assert_same(cache, reference, 3232)


def test_a_page_is_kept_while_its_fault_sleeps_and_evictable_once_it_runs() -> None:
    """filemap_fault sleeps holding a folio reference (dropped at out_retry): reclaim keeps
    the folio meanwhile, and may take it in the retry's lock wait."""
    cache = PageCache(8, (), 64)
    cache.insert(0, 10, 0)  # the fault's read completes at 10 ...
    cache.pin(0, 50)  # ... and it runs again at 50
    for key in range(1, 40):  # other reads fill the cache past its limit meanwhile
        cache.insert(key, 20, 20)
    assert cache.ready_ns(0) == 10  # kept: rotated, never evicted
    for key in range(40, 60):  # after 50: the retry waits for its lock
        cache.insert(key, 60, 60)
    assert cache.ready_ns(0) == ABSENT  # evicted: the retry reads it again (a refault)


# -- the thread's fast path and spans -------------------------------------------------------

MM = "mm-1"


def fault(fault_id: int, key: int, gap_ns: int = 0, cpu_ns: int = 1_500, vma_id: int = 0,
          **extra: int) -> FaultSpec:
    return FaultSpec(gap_ns, fault_id, MM, 0x1000 * fault_id, vma_id, key == NO_PAGE, key,
                     False, 100_000 if key != NO_PAGE else 0, cpu_ns, 1_000, 120, **extra)


def replay(threads: list[list[Operation]], policy: Policy, pages: int = 64,
           memory_limit: int | None = None) -> Timeline:
    work = Workload(
        source="test", start_ns=0, end_ns=1, pages=tuple(FilePage("8:0", 5, 4096 * key)
                                                         for key in range(pages)),
        threads=tuple(ThreadProgram(100 + index, 100, f"t{index}", 120, tuple(ops))
                      for index, ops in enumerate(threads)))
    return simulate(work, policy, ReplayParams(memory_limit=memory_limit)).timeline


def random_threads(rng: random.Random, pages: int) -> list[list[Operation]]:
    threads: list[list[Operation]] = []
    fault_id = 0
    for _ in range(rng.randrange(1, 5)):
        ops: list[Operation] = []
        for _ in range(rng.randrange(1, 40)):
            fault_id += 1
            if rng.random() < 0.1:
                ops.append(WriterSpec(rng.choice((0, 500)), "mprotect", MM, 0, 4096,
                                      (rng.randrange(2),), 100, rng.choice((0, 2_000)), 100))
                continue
            key = rng.choice((NO_PAGE, rng.randrange(pages), rng.randrange(pages + 4)))
            extra = {"readahead_end_key": min(pages + 4, key + rng.randrange(1, 6))} \
                if key >= 0 and rng.random() < 0.3 else {}
            ops.append(fault(fault_id, key, gap_ns=rng.choice((0, 0, 0, 700)),
                             cpu_ns=rng.choice((0, 1_500, 1_500, 3_000)),
                             vma_id=rng.randrange(2), **extra))
        threads.append(ops)
    return threads


@pytest.mark.parametrize("policy_id", ["stock", "retry-vma", "retry-vma-uptodate", "hold-vma"])
@pytest.mark.parametrize("seed", range(12))
def test_fast_path_gives_what_the_fault_path_gives(policy_id: str, seed: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The same workload with the thread's fast path and with every fault through
    fault_path: equal timelines, pages beyond the workload's page table included."""
    rng = random.Random(seed)
    threads = random_threads(rng, 16)
    policy = get_builtin(policy_id)
    memory_limit = rng.choice((None, 4096 * 4, 4096 * 9))
    fast = replay(threads, policy, pages=16, memory_limit=memory_limit)
    monkeypatch.setattr(ThreadRunner, "fast_path", False)
    slow = replay(threads, policy, pages=16, memory_limit=memory_limit)
    assert fast.faults == slow.faults
    assert fast.mmap_lock_holds == slow.mmap_lock_holds
    assert fast.trylock_failures == slow.trylock_failures
    assert fast.writer_ops == slow.writer_ops
    assert fast.io_requests == slow.io_requests
    assert fast.evictions == slow.evictions
    assert [(lane.span_starts, lane.span_ends, lane.span_states) for lane in fast.threads] == [
        (lane.span_starts, lane.span_ends, lane.span_states) for lane in slow.threads]


def test_back_to_back_minor_faults_each_get_a_span() -> None:
    """A thread's spans are closed as it goes: consecutive minor faults with no gap are
    separate fault:vma spans (they are separate faults), a fault that takes no CPU time
    leaves no span, and a gap is a user span."""
    ops: list[Operation] = [fault(1, NO_PAGE), fault(2, NO_PAGE), fault(3, NO_PAGE, cpu_ns=0),
                            fault(4, NO_PAGE, gap_ns=500)]
    timeline = replay([ops], get_builtin("stock"))
    lane = timeline.threads[0]
    spans = [(span.start_ns, span.end_ns, span.state) for span in lane.spans()]
    assert spans == [(0, 1_500, SpanState.FAULT_VMA), (1_500, 3_000, SpanState.FAULT_VMA),
                     (3_000, 3_500, SpanState.USER), (3_500, 5_000, SpanState.FAULT_VMA)]
    assert [(f.start_ns, f.end_ns, f.cpu_ns) for f in timeline.faults] == [
        (0, 1_500, 1_500), (1_500, 3_000, 1_500), (3_000, 3_000, 0), (3_500, 5_000, 1_500)]


def get_builtin(policy_id: str) -> BuiltinPolicy:
    policy = get_policy(policy_id)
    assert isinstance(policy, BuiltinPolicy)
    return policy


def spans_from_changes(start_ns: int, changes: list[tuple[int, int]],
                       end_ns: int) -> list[tuple[int, int, int]]:
    """Spans from a thread's state changes (time, state), all made at the end (the way
    replay/thread.py built them before its spans were closed as it went)."""
    spans = []
    since, current = start_ns, int(SpanState.USER)
    for at, state in [*changes, (end_ns, -1)]:
        if state != current:
            if at > since:
                spans.append((since, at, current))
                since = at
            current = state
    return spans


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 0, 1, 7]), st.integers(0, 4)), max_size=30),
       st.integers(0, 3))
def test_spans_closed_as_the_state_changes_match_spans_made_at_the_end(
        steps: list[tuple[int, int]], tail_ns: int) -> None:
    engine = Engine(start_ns=100)
    recorder = SpanRecorder(engine)
    changes = []
    for index, (advance, state) in enumerate(steps):
        engine.now += advance
        recorder.to(state)
        changes.append((engine.now, state))
        if index % 7 == 6:
            recorder.pack_spans()
    lane = recorder.lane_of(ThreadProgram(1, 1, "t", 120, ()), engine.now + tail_ns)
    assert list(zip(lane.span_starts, lane.span_ends, lane.span_states, strict=True)) == (
        spans_from_changes(100, changes, engine.now + tail_ns))


def test_a_replay_leaves_no_reference_cycle() -> None:
    """simulate() freezes what it made in the cyclic GC (so that no collection has to
    traverse a million young records afterwards): a cycle among those objects would never
    be collected, so a replay must leave none."""
    rng = random.Random(3)
    threads = random_threads(rng, 16)
    gc.unfreeze()
    gc.collect()
    for policy_id in ("stock", "hold-mmap"):
        timeline = replay(threads, get_builtin(policy_id), pages=16, memory_limit=4096 * 6)
        assert gc.get_freeze_count() > 0
        del timeline
        gc.unfreeze()
        assert gc.collect() == 0
