"""Storage: when a read issued now completes.

Default ("observed"): each request takes the latency the recording observed for that
fault, times `latency_scale`. A fault that had no read in the recording (its page was
cached there, evicted here) takes a latency drawn with the run's seeded random source from
the recording's observed latencies.

What-if ("queue"): `queue_depth` requests are served at once, in FIFO order; each takes
`service_ns` (or its observed latency, scaled, when `service_ns` is None) once it reaches
the device, so a burst of reads queues.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable

OBSERVED = "observed"
QUEUE = "queue"
DEFAULT_LATENCY_NS = 100_000  # when the recording had no read at all


class Storage:
    __slots__ = ("_latencies", "_observed", "_rng", "_slots", "latency_scale", "model",
                 "service_ns")

    def __init__(self, rng: random.Random, observed_latencies: Iterable[int],
                 latency_scale: float = 1.0, model: str = OBSERVED, queue_depth: int = 32,
                 service_ns: int | None = None) -> None:
        if model not in (OBSERVED, QUEUE):
            raise ValueError(f"unknown storage model {model!r}")
        if latency_scale <= 0:
            raise ValueError("io latency scale must be positive")
        if queue_depth < 1:
            raise ValueError("queue depth must be at least 1")
        self.model = model
        self.latency_scale = latency_scale
        self.service_ns = service_ns
        self._rng = rng
        # read when a fault first needs a latency of its own (most replays never do)
        self._observed = observed_latencies
        self._latencies: tuple[int, ...] = ()
        self._slots = [0] * queue_depth  # when each device slot is free (a min-heap)

    def read(self, now_ns: int, observed_ns: int) -> int:
        """Issue a read now; return its completion time."""
        if observed_ns <= 0:
            if not self._latencies:
                self._latencies = tuple(
                    latency for latency in self._observed if latency > 0) or (DEFAULT_LATENCY_NS,)
            observed_ns = self._rng.choice(self._latencies)
        latency = int(observed_ns * self.latency_scale) if self.latency_scale != 1.0 else observed_ns
        if self.model == OBSERVED:
            return now_ns + latency
        service = self.service_ns if self.service_ns is not None else latency
        slot_free = self._slots[0]
        start = now_ns if slot_free <= now_ns else slot_free
        heapq.heapreplace(self._slots, start + service)
        return start + service
