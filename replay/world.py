"""The shared state of one replay: clock, locks per mm and per VMA, page cache, storage, and
the records the threads leave behind (which become the replay's Timeline)."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable
from typing import Any

from faulttui.model.fault_table import UNCONTENDED_FIELDS
from faulttui.model.timeline import Fault, FilePage, IoRequest, LockHold, TrylockFailure, WriterOp
from replay.engine import Engine
from replay.mmap_lock import MmapLock
from replay.page_cache import PageCache
from replay.policies import Policy
from replay.storage import Storage
from replay.vma_lock import VmaLock

DEFAULT_MAP_CPU_NS = 2_000  # a retry's mapping cost when the workload has no example of one


class World:
    __slots__ = (
        "_default_map_cpu_ns",
        "_fault_locks",
        "_map_costs",
        "_mmap_locks",
        "_vma_locks",
        "engine",
        "fault_positions",
        "faults",
        "holds",
        "io_requests",
        "page_cache",
        "pages",
        "policy",
        "rng",
        "storage",
        "trylock_failures",
        "typical_wake_ns",
        "uncontended",
        "vma_ids_by_mm",
        "wakeup_ns",
        "writer_ops",
    )

    def __init__(self, engine: Engine, policy: Policy, page_cache: PageCache, storage: Storage,
                 wakeup_ns: tuple[tuple[int, ...], tuple[int, ...]], rng: random.Random,
                 map_costs: Iterable[int], typical_wake_ns: int,
                 vma_ids_by_mm: dict[str, tuple[int, ...]], pages: tuple[FilePage, ...]) -> None:
        self.engine = engine
        self.policy = policy
        self.page_cache = page_cache
        self.storage = storage
        self.wakeup_ns = wakeup_ns  # (readers', writers') hand-over delays
        self.rng = rng
        self._map_costs = map_costs  # the workload's retry mapping costs, read when first needed
        self._default_map_cpu_ns: int | None = None
        self.typical_wake_ns = typical_wake_ns  # read complete -> retry running, when not recorded
        self.vma_ids_by_mm = vma_ids_by_mm  # for fork, which write-locks every VMA
        self.pages = pages  # page key -> identity, for the replayed Fault records
        self._mmap_locks: dict[str, MmapLock] = {}
        self._vma_locks: dict[tuple[str, int], VmaLock] = {}
        self._fault_locks: dict[tuple[str, int], tuple[MmapLock, VmaLock]] = {}
        # the faults with a record, and how many uncontended faults came before each; the
        # uncontended ones (`replay.thread`'s fast path) as FaultTable's flat columns
        self.faults: list[Fault] = []
        self.fault_positions: list[int] = []
        self.uncontended: list[Any] = []
        self.holds: list[LockHold] = []
        self.trylock_failures: list[TrylockFailure] = []
        self.writer_ops: list[WriterOp] = []
        self.io_requests: list[IoRequest] = []

    def add_fault(self, record: Fault) -> None:
        """A fault with a record is done (one that took the fault path)."""
        self.fault_positions.append(len(self.uncontended) // UNCONTENDED_FIELDS)
        self.faults.append(record)

    @property
    def faults_done(self) -> int:
        return len(self.faults) + len(self.uncontended) // UNCONTENDED_FIELDS

    @property
    def default_map_cpu_ns(self) -> int:
        """The mapping cost of a retry whose fault has none recorded: the median of the
        recorded ones (worked out when a fault first needs it: most replays never do)."""
        if self._default_map_cpu_ns is None:
            costs = [cost for cost in self._map_costs if cost > 0]
            self._default_map_cpu_ns = (int(statistics.median(costs)) if costs
                                        else DEFAULT_MAP_CPU_NS)
        return self._default_map_cpu_ns

    def mmap_lock(self, mm: str) -> MmapLock:
        lock = self._mmap_locks.get(mm)
        if lock is None:
            lock = self._mmap_locks[mm] = MmapLock(self.engine, *self.wakeup_ns, rng=self.rng)
        return lock

    def fault_locks(self, mm: str, vma_id: int) -> tuple[MmapLock, VmaLock]:
        """The two locks a fault on `vma_id` of `mm` may take."""
        key = (mm, vma_id)
        locks = self._fault_locks.get(key)
        if locks is None:
            locks = self._fault_locks[key] = (self.mmap_lock(mm), self.vma_lock(mm, vma_id))
        return locks

    def vma_lock(self, mm: str, vma_id: int) -> VmaLock:
        key = (mm, vma_id)
        lock = self._vma_locks.get(key)
        if lock is None:
            lock = self._vma_locks[key] = VmaLock()
        return lock
