"""The discrete-event engine: one heap of (time_ns, priority, sequence, process), no globals.

A process is a generator. It yields a delay in nanoseconds (``>= 0``: resume me that much
later) or ``BLOCK`` (I registered with a lock or a page; whoever releases it calls
`Engine.wake`). Ties at the same instant go to the numerically lower priority first (the
kernel's prio: lower number, more important), then in the order they were scheduled, so a
run is a pure function of its inputs.

Why hand-written and not SimPy: the replay needs exactly three things, a clock, a timer
and "wake this process", and the engine is the inner loop of every replay. SimPy wraps each
step in an Event object with a callback list; this loop pushes one tuple per step and
resumes the generator directly. Measured with `benchmarks/replay_bench.py --engine-compare`
(memcg-64t's thread programs as plain delays, 360k events, best of 3, CPU time): this loop
0.10 s, SimPy 4.1.2 0.35 s, 3.3x as long. The whole `stock` replay of that trace takes
about 1.0 s, so SimPy's share alone would have eaten an eighth of the 2 s budget, for no
gain: none of its shared-resource classes is an rwsem with reader batches, trylock,
handoff and downgrade, so the lock models would have been written by hand either way.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Generator
from typing import Protocol

BLOCK = -1  # yielded by a process that waits for a wake-up from a lock or a page

ProcessGenerator = Generator[int, None, None]


class Process(Protocol):
    """What the engine needs from a process: its priority and how to resume it (the
    `send` of its generator)."""

    prio: int
    resume: Callable[[None], int]


class Engine:
    """Runs processes in simulated time until none is left to run."""

    __slots__ = ("_counter", "_heap", "events", "now")

    def __init__(self, start_ns: int = 0) -> None:
        self.now = start_ns
        self.events = 0  # resumptions run so far (the "simulated events" of the benchmark)
        # (time, priority, sequence, the process's resume)
        self._heap: list[tuple[int, int, int, Callable[[None], int]]] = []
        self._counter = itertools.count()

    def start(self, process: Process, at_ns: int) -> None:
        """Run `process` for the first time at `at_ns`."""
        heapq.heappush(self._heap, (at_ns, process.prio, next(self._counter), process.resume))

    def wake(self, process: Process, delay_ns: int = 0) -> None:
        """Resume a process that yielded BLOCK, `delay_ns` from now."""
        heapq.heappush(self._heap, (self.now + delay_ns, process.prio, next(self._counter),
                                    process.resume))

    def run(self, until_ns: int | None = None) -> None:
        """Run until no process is left to run, or until the next event is after `until_ns`."""
        heap = self._heap
        if not heap:
            return
        pop = heapq.heappop
        push = heapq.heappush
        # push the resumed process's next step and pop the earliest in one sift; the
        # entries are totally ordered (the sequence number), so the order is push-then-pop's
        pushpop = heapq.heappushpop
        counter = self._counter
        events = self.events
        limit = until_ns
        item = pop(heap)
        try:
            while True:
                now = item[0]
                if limit is not None and now > limit:
                    push(heap, item)
                    break
                self.now = now
                events += 1
                resume = item[3]
                try:
                    delay = resume(None)
                except StopIteration:
                    delay = BLOCK
                if delay >= 0:
                    item = pushpop(heap, (now + delay, item[1], next(counter), resume))
                elif heap:
                    item = pop(heap)
                else:
                    break
        finally:
            self.events = events

    @property
    def pending(self) -> int:
        return len(self._heap)
