"""A replayed thread's spans, closed as its state changes (the lane of its Timeline)."""

from __future__ import annotations

import struct
from array import array

from faulttui.model.timeline import SpanState, ThreadLane
from replay.engine import Engine
from replay.workload import ThreadProgram

USER = int(SpanState.USER)
PACK_AT = 384  # values (128 spans) in `SpanRecorder.spans` worth packing


class SpanRecorder:
    """The spans of one thread. A span is closed when the state changes; a state that lasts
    no time leaves no span, and two spans in a row may have the same state (two faults).

    `spans` holds the recent closed spans flat (start, end, state, start, end, state...),
    `packed_spans` the older ones; the open span is in `state` since `since`. The thread's
    fast path in `replay.thread` appends to `spans` and moves `since` itself."""

    __slots__ = ("engine", "packed_spans", "since", "spans", "state")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.spans: list[int] = []
        self.packed_spans: array[int] = array("q")
        self.since = engine.now
        self.state = USER

    def to(self, state: int) -> None:
        """Switch the thread's span state now."""
        if state != self.state:
            now = self.engine.now
            if now > self.since:
                self.spans += (self.since, now, self.state)
                self.since = now
            self.state = state

    def pack_spans(self) -> None:
        """Move the recent spans into `packed_spans`. Done now and then while the thread
        runs (see PACK_AT): their times were allocated a short while ago and are still in
        the CPU cache, while at the end of a long replay reading them costs a cache miss
        each."""
        spans = self.spans
        self.packed_spans.frombytes(struct.pack(f"{len(spans)}q", *spans))
        spans.clear()

    def lane_of(self, program: ThreadProgram, end_ns: int) -> ThreadLane:
        """The thread's lane: its spans, the open one closed at `end_ns`."""
        self.pack_spans()
        flat = array("q", self.packed_spans)
        if end_ns > self.since:
            flat.extend((self.since, end_ns, self.state))
        return ThreadLane(program.tid, program.tgid, program.comm, program.prio,
                          flat[0::3], flat[1::3], array("B", bytes(flat[2::3].tolist())))
