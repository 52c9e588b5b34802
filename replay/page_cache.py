"""The page cache of the replayed file pages: residency, reads in flight, and memcg reclaim
with the kernel's two file LRU lists and workingset refault detection (mm/vmscan.c,
mm/workingset.c, the classic LRU, not MGLRU).

A page is identified by the workload's page key, a small dense integer (an index into
`Workload.pages`), so the per-page state is kept in lists indexed by key rather than in
dicts: `ready[key]` is the time the page's read completes, or ABSENT when the page is not
cached. A page whose read is still in flight is in the cache but not uptodate, and its
folio is locked. A fault that maps an uptodate page holds its folio lock for the
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
  being mapped) is rotated (`folio_trylock` fails), and so is one a sleeping fault still
  holds a reference to (`pin`: `__remove_mapping`'s `folio_ref_freeze` fails, the folio
  is kept); a page accessed since reclaim last
  looked is rotated once with PG_referenced set, and activated if it is accessed again
  before the next look; a page not accessed is evicted and leaves a shadow entry;
- first, while the inactive list is low (`inactive_is_low`: inactive * ratio < active,
  ratio = int_sqrt(10 * GiB) or 1 below 1 GiB), pages move from the active tail to the
  inactive head with their accessed bit cleared (`shrink_active_list`).

A fault that waits for its page sleeps holding a reference to the folio (filemap_fault:
`__filemap_get_folio`, then `lock_folio_maybe_drop_mmap` sleeps in `__folio_lock_killable`;
the reference goes at `out_retry`'s `folio_put`, once the thread runs again). So a page
read for a fault cannot be evicted while that fault sleeps and waits for a CPU; it can be
from then until the retry maps it, which is the retry's wait for its lock (the Wilcox
scenario: a long mmap_lock wait behind writers). A page that was read but not mapped yet
is then evicted the first time reclaim reaches it, while the pages around it that threads
did map get a second trip round the list: under pressure the freshly read, unmapped folio
goes first.
Not modelled: `zap_pte_range`'s `folio_mark_accessed` at munmap (the accessed bit simply
outlives the mapping), anon memory and swap, MGLRU.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterable

ABSENT = -1  # ready / folio_locks of a page that is not cached
NO_SHADOW = -1  # shadows of a page with no shadow entry (ages are >= 0)
RECLAIM_BATCH = 32
GIB_PAGES = 1 << 18  # 4 KiB pages in a GiB


class PageCache:
    __slots__ = ("_age", "activations", "active", "capacity", "evictions", "folio_locks",
                 "inactive", "pins", "ready", "resident", "shadows", "young")

    def __init__(self, capacity_pages: int | None = None, resident: Iterable[int] = (),
                 key_limit: int = 0) -> None:
        """`key_limit`: the keys will be below it (more room is made when one is not)."""
        if capacity_pages is not None and capacity_pages < 1:
            raise ValueError("page cache capacity must be at least one page")
        self.capacity = capacity_pages
        resident = list(resident)
        size = max(key_limit, max(resident, default=-1) + 1)
        self.ready: list[int] = [ABSENT] * size
        # until when a cached page's folio is locked: by its read until the read completes,
        # then by each fault that maps it
        self.folio_locks: list[int] = [ABSENT] * size
        self.young: list[bool] = [False] * size  # mapped since reclaim last looked (accessed PTE)
        # until when a fault asleep on the page (or waiting for a CPU after) holds a
        # reference to its folio: reclaim keeps the folio meanwhile
        self.pins: list[int] = [0] * size
        # an evicted page's nonresident age at eviction, or NO_SHADOW (an array: a replay
        # evicts hundreds of thousands of pages, a list would keep an int object for each)
        self.shadows = array("q", [NO_SHADOW]) * size
        self.resident = 0  # pages cached
        # LRU order: the left end is the tail (reclaimed first), the right end the head.
        # A page leaves a list only at its tail, so deques do; an inactive page with
        # PG_referenced set is stored as ~key (keys are >= 0)
        self.inactive: deque[int] = deque()
        self.active: deque[int] = deque()
        self._age = 0  # workingset's nonresident age: evictions + activations
        self.evictions = 0
        self.activations = 0
        for key in resident:
            if self.ready[key] == ABSENT:
                self.ready[key] = self.folio_locks[key] = 0
                self.resident += 1
                self.inactive.append(key)
        if capacity_pages is not None:
            while self.resident > capacity_pages:
                key = self.inactive.popleft()
                self.ready[key] = self.folio_locks[key] = ABSENT
                self.resident -= 1

    def reserve(self, key_limit: int) -> None:
        """Make room for the keys below `key_limit` (the lists grow in place)."""
        more = key_limit - len(self.ready)
        if more > 0:
            self.ready += [ABSENT] * more
            self.folio_locks += [ABSENT] * more
            self.young += [False] * more
            self.pins += [0] * more
            self.shadows += array("q", [NO_SHADOW]) * more

    def ready_ns(self, key: int) -> int:
        """When the page is (or was) uptodate; ABSENT if it is not in the cache."""
        return self.ready[key] if 0 <= key < len(self.ready) else ABSENT

    def folio_locked_until(self, key: int) -> int:
        """Until when the folio is locked (its read, or a fault mapping it); 0: absent."""
        return self.folio_locks[key] if self.ready_ns(key) != ABSENT else 0

    def pin(self, key: int, until_ns: int) -> None:
        """A fault sleeps on the page until `until_ns` holding a reference to its folio
        (not evicted meanwhile; a page not cached gets no pin)."""
        if self.ready_ns(key) != ABSENT and until_ns > self.pins[key]:
            self.pins[key] = until_ns

    def shadow_ages(self) -> dict[int, int]:
        """Evicted page -> its nonresident age at eviction, for the pages with a shadow entry."""
        return {key: age for key, age in enumerate(self.shadows) if age != NO_SHADOW}

    def lock_folio(self, key: int, until_ns: int) -> None:
        """A fault maps the page holding its folio lock until `until_ns`: the mapping sets
        the page's accessed bit (a page no longer cached is mapped without a trace here)."""
        if self.ready_ns(key) != ABSENT:
            self.folio_locks[key] = until_ns
            self.young[key] = True

    def insert(self, key: int, ready_ns: int, now_ns: int) -> None:
        """Add a page whose read completes at `ready_ns` (locked until then); a page
        already cached only gets the new time."""
        if key >= len(self.ready):
            self.reserve(key + 1)
        cached = self.ready[key] != ABSENT
        self.ready[key] = self.folio_locks[key] = ready_ns
        if cached:
            return
        self.resident += 1
        if self.shadows[key] != NO_SHADOW:
            self._insert_refault(key)
        else:
            self.inactive.append(key)
        if self.capacity is not None and self.resident > self.capacity:
            self._reclaim(now_ns)

    def insert_absent(self, first: int, end: int, ready_ns: int, now_ns: int) -> None:
        """Read-around: insert the pages `first` .. `end - 1` that are not cached, one by
        one (as `insert`; a read brings in tens of pages, so the usual case, every page
        absent, none with a shadow entry and room for all, is done at once)."""
        if end > len(self.ready):
            self.reserve(end)
        count = end - first
        if count <= 0:
            return
        ready = self.ready
        capacity = self.capacity
        if (ready[first:end].count(ABSENT) == count
                and self.shadows[first:end].count(NO_SHADOW) == count
                and (capacity is None or self.resident + count <= capacity)):
            ready[first:end] = self.folio_locks[first:end] = [ready_ns] * count
            self.inactive.extend(range(first, end))
            self.resident += count
            return
        locked = self.folio_locks
        shadows = self.shadows
        add_inactive = self.inactive.append
        for key in range(first, end):
            if ready[key] != ABSENT:
                continue
            ready[key] = locked[key] = ready_ns
            self.resident += 1
            if shadows[key] != NO_SHADOW:
                self._insert_refault(key)
            else:
                add_inactive(key)
            if capacity is not None and self.resident > capacity:
                self._reclaim(now_ns)

    def _insert_refault(self, key: int) -> None:
        shadow = self.shadows[key]
        self.shadows[key] = NO_SHADOW
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
        take_tail = inactive.popleft
        add_head = inactive.append
        active = self.active
        young = self.young
        pins = self.pins
        shadows = self.shadows
        capacity = self.capacity
        assert capacity is not None
        ratio = math.isqrt(10 * (capacity // GIB_PAGES)) or 1
        target = capacity - min(RECLAIM_BATCH - 1, capacity // 8)
        excess = self.resident - target
        age = self._age
        activated = 0
        rotated = 0  # locked folios put back in this pass: stop when every one is locked
        while excess > 0:
            if active and len(inactive) * ratio < len(active):
                key = active.popleft()
                young[key] = False  # folio_referenced() clears the accessed bits
                add_head(key)
                continue
            if not inactive or (rotated and rotated > len(inactive)):
                break
            # With no active page and no locked folio met, and more inactive pages than
            # are left to evict, the checks above cannot change until a folio is found
            # locked or is activated: take the tail entries one after another meanwhile.
            run = not active and not rotated and len(inactive) > excess
            while True:
                entry = take_tail()
                key = entry if entry >= 0 else ~entry
                if locked[key] > now_ns or pins[key] > now_ns:
                    add_head(entry)  # locked or referenced folio: rotate it, as reclaim does
                    rotated += 1
                    break
                if young[key]:
                    young[key] = False
                    if entry < 0:  # accessed twice: FOLIOREF_ACTIVATE
                        active.append(key)
                        age += 1
                        activated += 1
                        break
                    add_head(~key)  # accessed once: FOLIOREF_KEEP, one more trip
                else:
                    ready[key] = locked[key] = ABSENT
                    shadows[key] = age
                    age += 1
                    excess -= 1
                    if not excess:
                        break
                if not run:
                    break
        evicted = age - self._age - activated
        self.resident -= evicted
        self._age = age
        self.evictions += evicted
        self.activations += activated

    def __len__(self) -> int:
        return self.resident
