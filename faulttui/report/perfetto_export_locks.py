"""mmap_lock for the Perfetto export: who waited for whom, and how many waited at a time.

Pure functions over a timeline's `LockHold`s (indices into `Timeline.mmap_lock_holds`).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from faulttui.model.timeline import LockHold

DEFAULT_FLOWS_PER_WAIT = 3


@dataclass(frozen=True, slots=True)
class WaitEdge:
    """Hold `waiter` (a LockHold with wait_ns > 0) requested the lock while `holder` held it."""

    waiter: int
    holder: int


def holds_by_mm(holds: Sequence[LockHold]) -> dict[str, list[int]]:
    """Hold indices per mm, mms in first-seen order, each list in acquisition order."""
    grouped: dict[str, list[int]] = defaultdict(list)
    for index, hold in enumerate(holds):
        grouped[hold.mm].append(index)
    for indices in grouped.values():
        indices.sort(key=lambda i: (holds[i].acquired_ns, i))
    return dict(grouped)


def wait_edges(holds: Sequence[LockHold], max_per_wait: int = DEFAULT_FLOWS_PER_WAIT
               ) -> list[WaitEdge]:
    """For every hold that waited, the holds of the same mm active at its request time.

    Active: acquired at or before the request and released after it, by another thread.
    Writers come first (for a read waiter, only writers when any is active: readers do not
    exclude each other), then by acquisition time; at most `max_per_wait` per waiter.
    """
    if max_per_wait <= 0:
        return []
    edges: list[WaitEdge] = []
    for indices in holds_by_mm(holds).values():
        waiters = sorted((i for i in indices if holds[i].wait_ns > 0),
                         key=lambda i: (holds[i].request_ns, i))
        active: list[tuple[int, int]] = []  # heap of (released_ns, hold index)
        next_acquired = 0
        for waiter in waiters:
            request = holds[waiter].request_ns
            while (next_acquired < len(indices)
                   and holds[indices[next_acquired]].acquired_ns <= request):
                held = indices[next_acquired]
                heapq.heappush(active, (holds[held].released_ns, held))
                next_acquired += 1
            while active and active[0][0] <= request:
                heapq.heappop(active)
            edges.extend(WaitEdge(waiter, holder)
                         for holder in _blockers(holds, waiter, active)[:max_per_wait])
    return edges


def _blockers(holds: Sequence[LockHold], waiter: int, active: list[tuple[int, int]]
              ) -> list[int]:
    waiting = holds[waiter]
    others = [index for _, index in active if holds[index].tid != waiting.tid]
    writers = [index for index in others if holds[index].write]
    chosen = writers if (writers and not waiting.write) else others
    return sorted(chosen, key=lambda i: (not holds[i].write, holds[i].acquired_ns, i))


def waiter_counts(holds: Sequence[LockHold], indices: Sequence[int]) -> list[tuple[int, int]]:
    """(timestamp, waiters) at every change of the number of threads waiting for the lock.

    A request with a wait adds one at request_ns; its acquisition removes it at acquired_ns.
    At equal timestamps acquisitions count first, so the value is never negative.
    """
    deltas: list[tuple[int, int]] = []
    for index in indices:
        hold = holds[index]
        if hold.wait_ns > 0:
            deltas.append((hold.request_ns, +1))
            deltas.append((hold.acquired_ns, -1))
    deltas.sort()
    counts: list[tuple[int, int]] = []
    waiting = 0
    for ts, delta in deltas:
        waiting += delta
        if counts and counts[-1][0] == ts:
            counts[-1] = (ts, waiting)
        else:
            counts.append((ts, waiting))
    return counts
