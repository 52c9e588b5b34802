"""The page cache of the replayed file pages: residency, reads in flight, and memcg reclaim
with the kernel's two file LRU lists and workingset refault detection (mm/vmscan.c,
mm/workingset.c, the classic LRU, not MGLRU).

A page is identified by the workload's page key. `ready` maps a resident page to the time
its read completes: a page whose read is still in flight is in the cache but not uptodate,
and its folio is locked. A fault that maps an uptodate page holds its folio lock for the
mapping (`map`), which is when another fault finds the page "uptodate but locked" (the
case v2 patches 4-5 handle).

Reclaim, with a capacity (the memcg limit, in pages), when an insertion goes beyond it:

- a new page goes to the head of the *inactive* list (`folio_add_lru`), unless its
  shadow entry says it was evicted recently enough to have stayed resident with the
  active list's pages (`workingset_refault`: refault distance <= active list size), then
  to the active list;
- mapping a page sets its accessed bit (the young PTE); nothing moves;
- reclaim takes `RECLAIM_BATCH` pages (SWAP_CLUSTER_MAX) from the inactive tail
  (`shrink_inactive_list` -> `folio_check_references`): a locked folio (read in flight,
  being mapped) is rotated (`folio_trylock` fails); a page accessed since reclaim last
  looked is rotated once with PG_referenced set, and activated if it is accessed again
  before the next look; a page not accessed is evicted and leaves a shadow entry;
- first, while the inactive list is low (`inactive_is_low`: inactive * ratio < active,
  ratio = int_sqrt(10 * GiB) or 1 below 1 GiB), pages move from the active tail to the
  inactive head with their accessed bit cleared (`shrink_active_list`).

So a page that was read but not mapped yet (a fault waiting for its retry) is evicted the
first time reclaim reaches it, while the pages around it that threads did map get a
second trip round the list: under pressure the freshly read, unmapped folio goes first.
Not modelled: `zap_pte_range`'s `folio_mark_accessed` at munmap (the accessed bit simply
outlives the mapping), anon memory and swap, MGLRU.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

ABSENT = -1
RECLAIM_BATCH = 32
GIB_PAGES = 1 << 18  # 4 KiB pages in a GiB


class PageCache:
    __slots__ = ("_age", "activations", "active", "capacity", "evictions", "folio_locks",
                 "inactive", "ready", "shadows", "young")

    def __init__(self, capacity_pages: int | None = None, resident: Iterable[int] = ()) -> None:
        if capacity_pages is not None and capacity_pages < 1:
            raise ValueError("page cache capacity must be at least one page")
        self.capacity = capacity_pages
        self.ready: dict[int, int] = {}
        # resident page -> until when its folio is locked: by its read until the read
        # completes, then by each fault that maps it
        self.folio_locks: dict[int, int] = {}
        # LRU order: the left end is the tail (reclaimed first), the right end the head.
        # A page leaves a list only at its tail, so deques do; an inactive page with
        # PG_referenced set is stored as ~key (keys are >= 0)
        self.inactive: deque[int] = deque()
        self.active: deque[int] = deque()
        self.young: set[int] = set()  # mapped since reclaim last looked (accessed PTE)
        self.shadows: dict[int, int] = {}  # evicted page -> nonresident age at eviction
        self._age = 0  # workingset's nonresident age: evictions + activations
        self.evictions = 0
        self.activations = 0
        for key in resident:
            if key not in self.ready:
                self.ready[key] = self.folio_locks[key] = 0
                self.inactive.append(key)
        if capacity_pages is not None:
            while len(self.ready) > capacity_pages:
                key = self.inactive.popleft()
                del self.ready[key], self.folio_locks[key]

    def ready_ns(self, key: int) -> int:
        """When the page is (or was) uptodate; ABSENT if it is not in the cache."""
        return self.ready.get(key, ABSENT)

    def folio_locked_until(self, key: int) -> int:
        """Until when the folio is locked (its read, or a fault mapping it); 0: absent."""
        return self.folio_locks.get(key, 0)

    def lock_folio(self, key: int, until_ns: int) -> None:
        """A fault maps the page holding its folio lock until `until_ns`: the mapping sets
        the page's accessed bit. A page reclaimed while the fault slept holding its lock
        (the fault's own folio reference is not modelled) is mapped without a trace here."""
        if key in self.folio_locks:
            self.folio_locks[key] = until_ns
            self.young.add(key)

    def insert(self, key: int, ready_ns: int, now_ns: int) -> None:
        """Add a page whose read completes at `ready_ns` (locked until then); a page
        already cached only gets the new time."""
        if key in self.ready:
            self.ready[key] = self.folio_locks[key] = ready_ns
            return
        self.ready[key] = self.folio_locks[key] = ready_ns
        if key in self.shadows:
            self._insert_refault(key)
        else:
            self.inactive.append(key)
        if self.capacity is not None and len(self.ready) > self.capacity:
            self._reclaim(now_ns)

    def insert_absent(self, first: int, end: int, ready_ns: int, now_ns: int) -> None:
        """Read-around: insert the pages `first` .. `end - 1` that are not cached, one by
        one (as `insert`, inlined: a read brings in tens of pages)."""
        ready = self.ready
        locked = self.folio_locks
        shadows = self.shadows
        add_inactive = self.inactive.append
        capacity = self.capacity
        for key in range(first, end):
            if key in ready:
                continue
            ready[key] = locked[key] = ready_ns
            if key in shadows:
                self._insert_refault(key)
            else:
                add_inactive(key)
            if capacity is not None and len(ready) > capacity:
                self._reclaim(now_ns)

    def _insert_refault(self, key: int) -> None:
        shadow = self.shadows.pop(key)
        if self._age - shadow <= len(self.active):
            # workingset_refault: it would have stayed resident had the active list been
            # that much smaller, so it is part of the workingset
            self.active.append(key)
            self._age += 1
            self.activations += 1
        else:
            self.inactive.append(key)

    def _reclaim(self, now_ns: int) -> None:
        ready = self.ready
        locked = self.folio_locks
        inactive = self.inactive
        active = self.active
        young = self.young
        shadows = self.shadows
        capacity = self.capacity
        assert capacity is not None
        ratio = math.isqrt(10 * (capacity // GIB_PAGES)) or 1
        target = capacity - min(RECLAIM_BATCH - 1, capacity // 8)
        excess = len(ready) - target
        age = self._age
        evicted = activated = 0
        rotated = 0  # locked folios put back in this pass: stop when every one is locked
        while excess > 0:
            if active and len(inactive) * ratio < len(active):
                key = active.popleft()
                young.discard(key)  # folio_referenced() clears the accessed bits
                inactive.append(key)
                continue
            if not inactive or (rotated and rotated > len(inactive)):
                break
            entry = inactive.popleft()
            key = ~entry if entry < 0 else entry
            if locked[key] > now_ns:
                inactive.append(entry)  # locked folio: rotate it, as reclaim does
                rotated += 1
            elif key in young:
                young.remove(key)
                if entry < 0:  # accessed twice: FOLIOREF_ACTIVATE
                    active.append(key)
                    age += 1
                    activated += 1
                else:
                    inactive.append(~key)  # accessed once: FOLIOREF_KEEP, one more trip
            else:
                del ready[key], locked[key]
                shadows[key] = age
                age += 1
                evicted += 1
                excess -= 1
        self._age = age
        self.evictions += evicted
        self.activations += activated

    def __len__(self) -> int:
        return len(self.ready)
