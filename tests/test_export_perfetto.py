"""The Perfetto export (faulttui.report.perfetto_export*) on hand-made timelines.

Every check reads the bytes back with the protos of the `perfetto` package and rebuilds the
slices the way Perfetto's trace processor does (per track, a stack of begin/end events in
timestamp order), so a badly nested track or a dangling flow fails here. `parse_trace` is
shared with test_export_cli.py.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TracePacket, TrackEvent

from faulttui.model.timeline import (
    Attempt,
    AttemptLock,
    AttemptOutcome,
    Fault,
    LockHold,
    RetryReason,
    SpanState,
    ThreadLane,
    Timeline,
    WriterOp,
)
from faulttui.report.perfetto_export import (
    PID_STRIDE,
    perfetto_trace_bytes,
    synthetic_pid,
    thread_numbers,
)
from faulttui.report.perfetto_export_layout import Edge, SliceSpec, nest_into_lanes
from faulttui.report.perfetto_export_locks import WaitEdge, wait_edges, waiter_counts

# --- reading a trace back ----------------------------------------------------------------------


@dataclass
class ParsedSlice:
    track: int
    ts: int
    dur: int
    name: str
    depth: int
    args: dict[str, Any]
    flows_out: list[int]
    flows_in: list[int] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.ts + self.dur


@dataclass
class ParsedTrace:
    tracks: dict[int, Any]  # uuid -> TrackDescriptor
    slices: list[ParsedSlice]
    counters: dict[int, list[tuple[int, int]]]

    def process_uuid(self, name: str) -> int:
        found = [uuid for uuid, track in self.tracks.items()
                 if track.HasField("process") and track.process.process_name == name]
        assert len(found) == 1, f"{len(found)} processes named {name!r}"
        return found[0]

    def process_names(self) -> list[str]:
        return [track.process.process_name for track in self.tracks.values()
                if track.HasField("process")]

    def children(self, parent: int) -> list[int]:
        return [uuid for uuid, track in self.tracks.items() if track.parent_uuid == parent]

    def thread_tracks(self, process: int) -> dict[int, int]:
        """tid (as written) -> thread track uuid, for the threads of one process."""
        pid = self.tracks[process].process.pid
        return {track.thread.tid: uuid for uuid, track in self.tracks.items()
                if track.HasField("thread") and track.thread.pid == pid}

    def slices_on(self, uuids: set[int]) -> list[ParsedSlice]:
        return [item for item in self.slices if item.track in uuids]

    def thread_slices(self, thread_uuid: int) -> list[ParsedSlice]:
        """The slices of a thread: its own track and the overlap tracks under it."""
        return self.slices_on({thread_uuid, *self.children(thread_uuid)})

    def named_tracks(self, process: int, prefix: str) -> list[int]:
        return [uuid for uuid in self.children(process)
                if self.tracks[uuid].name.startswith(prefix)]


def _annotation_value(annotation: Any) -> Any:
    kind = annotation.WhichOneof("value")
    assert kind is not None
    return getattr(annotation, kind)


def parse_trace(data: bytes) -> ParsedTrace:
    trace = Trace()
    trace.ParseFromString(data)
    packets = list(trace.packet)
    assert packets[0].sequence_flags & TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
    tracks: dict[int, Any] = {}
    event_names: dict[int, str] = {}
    annotation_names: dict[int, str] = {}
    events: list[tuple[int, int, Any, str, dict[str, Any]]] = []
    for index, packet in enumerate(packets):
        if packet.HasField("track_descriptor"):
            descriptor = packet.track_descriptor
            assert descriptor.uuid not in tracks, "track uuid reused"
            assert descriptor.parent_uuid == 0 or descriptor.parent_uuid in tracks
            tracks[descriptor.uuid] = descriptor
        for entry in packet.interned_data.event_names:
            event_names[entry.iid] = entry.name
        for entry in packet.interned_data.debug_annotation_names:
            annotation_names[entry.iid] = entry.name
        if packet.HasField("track_event"):
            event = packet.track_event
            assert packet.sequence_flags & TracePacket.SEQ_NEEDS_INCREMENTAL_STATE
            assert event.track_uuid in tracks, "event before (or without) its track"
            name = event_names[event.name_iid] if event.name_iid else event.name
            args = {annotation_names[a.name_iid]: _annotation_value(a)
                    for a in event.debug_annotations}
            events.append((packet.timestamp, index, event, name, args))
    events.sort(key=lambda item: (item[0], item[1]))  # the trace processor's full sort
    stacks: dict[int, list[ParsedSlice]] = defaultdict(list)
    slices: list[ParsedSlice] = []
    counters: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for ts, _, event, name, args in events:
        stack = stacks[event.track_uuid]
        if event.type == TrackEvent.TYPE_SLICE_BEGIN:
            opened = ParsedSlice(event.track_uuid, ts, -1, name, len(stack), args,
                                 list(event.flow_ids))
            stack.append(opened)
            slices.append(opened)
        elif event.type == TrackEvent.TYPE_SLICE_END:
            assert stack, f"end without a begin on track {event.track_uuid} at {ts}"
            closed = stack.pop()
            closed.dur = ts - closed.ts
            closed.flows_in = list(event.terminating_flow_ids)
        else:
            assert event.type == TrackEvent.TYPE_COUNTER
            assert tracks[event.track_uuid].HasField("counter")
            counters[event.track_uuid].append((ts, event.counter_value))
    assert not any(stacks.values()), "slices left open"
    return ParsedTrace(tracks, slices, dict(counters))


def check_flows(parsed: ParsedTrace, max_per_wait: int) -> int:
    """Every flow starts at a wait slice on a thread and ends at a hold on an mmap_lock track
    of the same process, later than it starts; returns the number of flows."""
    sources = {flow: item for item in parsed.slices for flow in item.flows_out}
    targets = {flow: item for item in parsed.slices for flow in item.flows_in}
    assert len(sources) == sum(len(item.flows_out) for item in parsed.slices)
    assert len(targets) == sum(len(item.flows_in) for item in parsed.slices)
    assert sources.keys() == targets.keys()
    for flow, source in sources.items():
        target = targets[flow]
        assert source.name.startswith("wait mmap_lock ")
        assert parsed.tracks[target.track].name.startswith("mmap_lock ")
        assert source.ts < target.end
        assert _process_of(parsed, source.track) == _process_of(parsed, target.track)
        assert len(source.flows_out) <= max_per_wait
    return len(sources)


def _process_of(parsed: ParsedTrace, uuid: int) -> int:
    """The pid a track belongs to (through its parents)."""
    while True:
        track = parsed.tracks[uuid]
        if track.HasField("process"):
            return int(track.process.pid)
        if track.HasField("thread"):
            return int(track.thread.pid)
        uuid = track.parent_uuid


# --- a hand-made timeline ----------------------------------------------------------------------

MM = "00000000716bc7e1"
WRITER, READER = 101, 102


def _lane(tid: int, comm: str, spans: list[tuple[int, int, SpanState]]) -> ThreadLane:
    return ThreadLane(tid, tid, comm, 120, array("q", [s for s, _, _ in spans]),
                      array("q", [e for _, e, _ in spans]),
                      array("B", [int(state) for _, _, state in spans]))


def tiny_timeline(name: str = "recording") -> Timeline:
    """The reader faults, falls back to mmap_lock, waits for the writer's mmap, sleeps for I/O
    with the lock dropped and retries under mmap_lock."""
    reader_fault = Fault(
        fault_id=0, tid=READER, mm=MM, start_ns=50_000, end_ns=450_000,
        address=0x7F0000001000, vma_id=3, attempts=(
            Attempt(AttemptLock.VMA, 50_000, 100_000, AttemptOutcome.FALLBACK),
            Attempt(AttemptLock.MMAP_READ, 100_000, 300_000, AttemptOutcome.RETRY,
                    lock_wait_ns=100_000),
            Attempt(AttemptLock.MMAP_READ, 400_000, 450_000, AttemptOutcome.DONE)),
        io_requests=1, io_latency_ns=90_000, io_wait_ns=100_000, cpu_ns=150_000,
        retry_lock=AttemptLock.MMAP_READ, retry_reason=RetryReason.IO, refault=True)
    writer_fault = Fault(
        fault_id=1, tid=WRITER, mm=MM, start_ns=10_000, end_ns=20_000, address=0x1000,
        vma_id=1, attempts=(Attempt(AttemptLock.VMA, 10_000, 20_000, AttemptOutcome.DONE),))
    return Timeline(
        name=name, start_ns=0, end_ns=1_000_000,
        threads=(
            _lane(WRITER, "writer", [(0, 55_000, SpanState.USER),
                                     (55_000, 60_000, SpanState.SYSCALL),
                                     (60_000, 200_000, SpanState.HOLD_MMAP_WRITE),
                                     (200_000, 1_000_000, SpanState.USER)]),
            _lane(READER, "reader", [(0, 50_000, SpanState.USER),
                                     (50_000, 100_000, SpanState.FAULT_VMA),
                                     (100_000, 200_000, SpanState.WAIT_MMAP_READ),
                                     (200_000, 300_000, SpanState.FAULT_MMAP_READ),
                                     (300_000, 400_000, SpanState.IO_WAIT),
                                     (400_000, 450_000, SpanState.FAULT_MMAP_READ),
                                     (450_000, 1_000_000, SpanState.USER)]),
        ),
        faults=(writer_fault, reader_fault),
        mmap_lock_holds=(
            LockHold(MM, WRITER, True, 60_000, 60_000, 200_000, purpose="writer"),
            LockHold(MM, READER, False, 100_000, 200_000, 300_000, fault_id=0,
                     purpose="fault-fallback"),
            LockHold(MM, READER, False, 400_000, 400_000, 450_000, fault_id=0,
                     purpose="fault-retry"),
        ),
        writer_ops=(WriterOp(WRITER, "mmap", 55_000, 210_000, addr=0x7F0000000000,
                             length=1 << 20, ret=0),),
    )


def test_one_process_per_timeline_with_synthetic_ids() -> None:
    data, summary = perfetto_trace_bytes([tiny_timeline(), tiny_timeline("stock")])
    parsed = parse_trace(data)
    assert parsed.process_names() == ["recording", "stock"]
    for position, name in enumerate(("recording", "stock")):
        process = parsed.process_uuid(name)
        assert parsed.tracks[process].process.pid == synthetic_pid(position)
        threads = parsed.thread_tracks(process)
        assert set(threads) == {synthetic_pid(position) + WRITER, synthetic_pid(position) + READER}
        assert sum(1 for track in parsed.tracks.values() if track.HasField("thread")
                   and track.thread.pid == synthetic_pid(position)) == 2  # one track a thread
        names = {parsed.tracks[uuid].thread.thread_name for uuid in threads.values()}
        assert names == {"writer 101", "reader 102"}
        assert {parsed.tracks[uuid].thread.pid for uuid in threads.values()} == {
            synthetic_pid(position)}
    assert [item.name for item in summary.timelines] == ["recording", "stock"]
    assert summary.slices == len(parsed.slices)


def test_fault_slices_their_attempts_and_arguments() -> None:
    parsed = parse_trace(perfetto_trace_bytes([tiny_timeline()])[0])
    threads = parsed.thread_tracks(parsed.process_uuid("recording"))
    reader = parsed.thread_slices(threads[synthetic_pid(0) + READER])
    assert {item.track for item in reader} == {threads[synthetic_pid(0) + READER]}  # all nest
    by_name = defaultdict(list)
    for item in reader:
        by_name[item.name].append(item)
    (fault,) = by_name["fault 0x7f0000001000"]
    assert (fault.ts, fault.dur, fault.depth) == (50_000, 400_000, 0)
    assert fault.args["address"] == "0x7f0000001000"
    assert fault.args["vma_id"] == 3
    assert fault.args["retry_lock"] == "mmap-read"
    assert fault.args["retry_reason"] == "io"
    assert fault.args["refault"] is True
    assert fault.args["io_latency_ns"] == 90_000
    assert fault.args["attempts"] == "vma:fallback, mmap-read:retry wait 100000ns, mmap-read:done"
    assert [(s.ts, s.dur, s.depth) for s in by_name["vma"]] == [(50_000, 50_000, 1)]
    assert [(s.ts, s.dur, s.depth, s.args["outcome"]) for s in by_name["mmap-read"]] == [
        (100_000, 200_000, 1, "retry"), (400_000, 50_000, 1, "done")]
    (wait,) = by_name["wait mmap_lock read"]
    assert (wait.ts, wait.dur, wait.depth) == (100_000, 100_000, 2)
    assert [(s.ts, s.dur, s.depth) for s in by_name["wait:mmap-read"]] == [(100_000, 100_000, 3)]
    assert [(s.ts, s.dur, s.depth) for s in by_name["io-wait"]] == [(300_000, 100_000, 1)]
    # fault attempts and user time have no span slice of their own
    assert not by_name["fault:mmap-read"] and not by_name["user"]
    writer = parsed.thread_slices(threads[synthetic_pid(0) + WRITER])
    assert sorted((s.name, s.ts, s.dur) for s in writer if s.depth == 0) == [
        ("fault 0x1000", 10_000, 10_000), ("mmap", 55_000, 155_000)]


def test_mmap_lock_holds_counter_and_flow() -> None:
    timeline = tiny_timeline()
    parsed = parse_trace(perfetto_trace_bytes([timeline])[0])
    process = parsed.process_uuid("recording")
    writes = parsed.slices_on(set(parsed.named_tracks(process, f"mmap_lock {MM} write")))
    reads = parsed.slices_on(set(parsed.named_tracks(process, f"mmap_lock {MM} read")))
    assert len(writes) + len(reads) == len(timeline.mmap_lock_holds)
    assert [(s.ts, s.dur, s.args["purpose"]) for s in writes] == [(60_000, 140_000, "writer")]
    assert sorted((s.ts, s.dur) for s in reads) == [(200_000, 100_000), (400_000, 50_000)]
    (counter,) = parsed.named_tracks(process, f"mmap_lock {MM} waiters")
    assert parsed.counters[counter] == [(0, 0), (100_000, 1), (200_000, 0)]
    assert check_flows(parsed, max_per_wait=3) == 1
    (source,) = [s for s in parsed.slices if s.flows_out]
    (target,) = [s for s in parsed.slices if s.flows_in]
    assert source.name == "wait mmap_lock read" and target is writes[0]


def test_no_flows_when_disabled() -> None:
    parsed = parse_trace(perfetto_trace_bytes([tiny_timeline()], flows_per_wait=0)[0])
    assert check_flows(parsed, max_per_wait=0) == 0


def test_overlapping_slices_go_to_an_overlap_track_and_keep_their_times() -> None:
    base = tiny_timeline()
    straddling = Fault(fault_id=2, tid=READER, mm=MM, start_ns=420_000, end_ns=600_000,
                       address=0x2000)
    timeline = Timeline(base.name, base.start_ns, base.end_ns, base.threads,
                        (*base.faults, straddling), base.mmap_lock_holds,
                        writer_ops=base.writer_ops)
    parsed = parse_trace(perfetto_trace_bytes([timeline])[0])
    reader_track = parsed.thread_tracks(parsed.process_uuid("recording"))[synthetic_pid(0) + READER]
    (overlaps,) = parsed.children(reader_track)
    assert parsed.tracks[overlaps].name == "reader 102 overlaps"
    faults = [s for s in parsed.thread_slices(reader_track) if s.name.startswith("fault 0x")]
    assert sorted((s.ts, s.dur) for s in faults) == [(50_000, 400_000), (420_000, 180_000)]


def test_export_is_deterministic() -> None:
    timelines = [tiny_timeline(), tiny_timeline("retry-vma")]
    assert perfetto_trace_bytes(timelines)[0] == perfetto_trace_bytes(timelines)[0]


def test_thread_numbers_fall_back_to_positions_for_huge_tids() -> None:
    assert thread_numbers([7, 3]) == {3: 3, 7: 7}
    assert thread_numbers([PID_STRIDE + 1, 5]) == {5: 1, PID_STRIDE + 1: 2}


def test_too_many_timelines_is_an_error() -> None:
    with pytest.raises(ValueError, match="timelines"):
        perfetto_trace_bytes([tiny_timeline()] * 300)


# --- the pure pieces ---------------------------------------------------------------------------


def test_wait_edges_prefer_writers_and_respect_the_cap() -> None:
    holds = [
        LockHold(MM, 1, False, 0, 0, 100),  # a reader
        LockHold(MM, 2, True, 0, 10, 100),  # a writer
        LockHold(MM, 3, False, 50, 100, 120),  # read waiter: blocked by the writer only
        LockHold(MM, 4, True, 60, 120, 130),  # write waiter: everyone active blocks it
        LockHold("other-mm", 5, True, 60, 70, 80),  # different mm: no edge
    ]
    assert wait_edges(holds, 3) == [WaitEdge(1, 0), WaitEdge(2, 1), WaitEdge(3, 1),
                                    WaitEdge(3, 0)]
    assert wait_edges(holds, 1) == [WaitEdge(1, 0), WaitEdge(2, 1), WaitEdge(3, 1)]
    assert wait_edges(holds, 0) == []


def test_waiter_counts_coalesce_equal_timestamps() -> None:
    holds = [LockHold(MM, 1, False, 10, 20, 30), LockHold(MM, 2, True, 20, 40, 50),
             LockHold(MM, 3, False, 20, 20, 25)]
    assert waiter_counts(holds, range(3)) == [(10, 1), (20, 1), (40, 0)]


_intervals = st.lists(st.tuples(st.integers(0, 50), st.integers(-5, 30), st.integers(0, 3)),
                      max_size=40)


@settings(max_examples=200, deadline=None)
@given(_intervals)
def test_lanes_are_well_nested_and_keep_every_slice(raw: list[tuple[int, int, int]]) -> None:
    specs = [SliceSpec(start, start + length, f"s{i}", rank)
             for i, (start, length, rank) in enumerate(raw)]
    lanes = nest_into_lanes(specs)
    begun: Counter[str] = Counter()
    for lane in lanes:
        stack: list[SliceSpec] = []
        last_ts = None
        for ts, edge, spec in lane:
            assert last_ts is None or ts >= last_ts
            last_ts = ts
            if edge is Edge.BEGIN:
                assert ts == spec.start_ns
                stack.append(spec)
                begun[spec.name] += 1
            else:
                assert stack and stack.pop() is spec
                assert ts == max(spec.end_ns, spec.start_ns)
        assert not stack
    assert begun == Counter(spec.name for spec in specs)
