"""The page cache of the replayed file pages: residency, reads in flight, LRU reclaim.

A page is identified by the workload's page key. An entry maps the key to the time its
read completes (`ready_ns`): a page whose read is still in flight is in the cache but not
uptodate, and its folio is locked. A fault that maps an uptodate page holds its folio lock
for the mapping (`lock_folio`), which is when another fault finds the page "uptodate but
locked" (the case v2 patches 4-5 handle).

With a capacity (the memcg limit, in pages), inserting a page beyond it reclaims the least
recently used pages first, `RECLAIM_BATCH` at a time (SWAP_CLUSTER_MAX, the batch memcg
reclaim works in). Reclaim skips locked folios (a read in flight, a fault mapping
it) as `folio_trylock` in shrink_folio_list does, so a page can be evicted between its
I/O completion and the retry that was going to map it: the retry then reads it again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

ABSENT = -1
RECLAIM_BATCH = 32


class PageCache:
    __slots__ = ("_folio_locked_until", "capacity", "evictions", "ready")

    def __init__(self, capacity_pages: int | None = None, resident: Iterable[int] = ()) -> None:
        if capacity_pages is not None and capacity_pages < 1:
            raise ValueError("page cache capacity must be at least one page")
        self.capacity = capacity_pages
        self.ready: OrderedDict[int, int] = OrderedDict()
        self._folio_locked_until: dict[int, int] = {}
        self.evictions = 0
        for key in resident:
            self.ready[key] = 0
        if capacity_pages is not None:
            while len(self.ready) > capacity_pages:
                self.ready.popitem(last=False)

    def ready_ns(self, key: int) -> int:
        """When the page is (or was) uptodate; ABSENT if it is not in the cache."""
        return self.ready.get(key, ABSENT)

    def folio_locked_until(self, key: int) -> int:
        return self._folio_locked_until.get(key, 0)

    def lock_folio(self, key: int, until_ns: int) -> None:
        """A fault maps the page holding its folio lock until `until_ns`; it becomes the
        most recently used page."""
        self._folio_locked_until[key] = until_ns
        if key in self.ready:
            self.ready.move_to_end(key)

    def insert(self, key: int, ready_ns: int, now_ns: int) -> None:
        """Add a page whose read completes at `ready_ns` (locked until then)."""
        self.ready[key] = ready_ns
        self.ready.move_to_end(key)
        if self.capacity is not None and len(self.ready) > self.capacity:
            self._reclaim(now_ns)

    def _reclaim(self, now_ns: int) -> None:
        ready = self.ready
        locked = self._folio_locked_until
        capacity = self.capacity
        assert capacity is not None
        target = capacity - min(RECLAIM_BATCH - 1, capacity // 8)
        skipped = 0
        while len(ready) > target and skipped < len(ready):
            key, ready_at = ready.popitem(last=False)
            if ready_at > now_ns or locked.get(key, 0) > now_ns:
                ready[key] = ready_at  # locked folio: rotate it, as reclaim does
                skipped += 1
                continue
            locked.pop(key, None)
            self.evictions += 1

    def __len__(self) -> int:
        return len(self.ready)
