"""Timelines (a recording and its replays) -> a Perfetto trace of track events for ui.perfetto.dev.

Each timeline becomes one process, named after it ("recording", "stock", "retry-vma", ...),
with synthetic ids so the timelines never collide and line up on the same time axis:
pid = 10,000,000 x (position + 1), tid = pid + the thread's tid. In each process:

- a thread track per thread: a slice per `Fault` ("fault 0x7f..", with its arguments), a
  child slice per attempt ("vma", "mmap-read"), the thread's mmap_lock waits ("wait mmap_lock
  read") and its spans of interest (io-wait, wait:mmap-read, runnable, ...; `SpanState`
  labels), plus its mmap-family syscalls ("mmap", "munmap", ...). Slices that do not nest go
  to extra tracks under the thread ("<comm> overlaps").
- per mm: "mmap_lock <mm> write" and "mmap_lock <mm> read" tracks with one slice per hold
  (acquisition to release; concurrent readers on sibling tracks of the same name, which the
  UI shows as one), and a "mmap_lock <mm> waiters" counter.
- flows from each lock wait to the holds (at most a few) that were active when it began.

Pure: `write_perfetto_trace` writes to any binary stream; `perfetto_trace_bytes` returns bytes.
"""

from __future__ import annotations

import heapq
import io
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from faulttui.model.timeline import Timeline
from faulttui.report.perfetto_export_layout import (
    Edge,
    LaneEvent,
    SliceSpec,
    nest_into_lanes,
)
from faulttui.report.perfetto_export_locks import (
    DEFAULT_FLOWS_PER_WAIT,
    holds_by_mm,
    wait_edges,
    waiter_counts,
)
from faulttui.report.perfetto_export_packets import ByteSink, PacketWriter
from faulttui.report.perfetto_export_slices import hold_slice, thread_slices

PID_STRIDE = 10_000_000  # above Linux's largest pid_max (4,194,304)
MAX_TIMELINES = (2**31 - 1) // PID_STRIDE - 1  # pids are int32 in the protos


@dataclass(frozen=True, slots=True)
class TimelineExport:
    """What one timeline became in the trace."""

    name: str
    pid: int
    threads: int
    faults: int
    lock_holds: int
    flows: int
    tracks: int
    slices: int


@dataclass(frozen=True, slots=True)
class ExportSummary:
    timelines: tuple[TimelineExport, ...]
    tracks: int
    slices: int
    flows: int
    counter_values: int
    packets: int
    bytes_written: int  # uncompressed


def synthetic_pid(position: int) -> int:
    """The pid of the process of the timeline at `position` (0 = the first)."""
    return PID_STRIDE * (position + 1)


def synthetic_tid(position: int, thread_number: int) -> int:
    return synthetic_pid(position) + thread_number


def thread_numbers(tids: Sequence[int]) -> dict[int, int]:
    """The number each thread gets inside its timeline's pid range: its own tid when every tid
    fits (always, for Linux tids), else 1, 2, ... in tid order."""
    unique = sorted(set(tids))
    if all(0 < tid < PID_STRIDE for tid in unique):
        return {tid: tid for tid in unique}
    return {tid: number for number, tid in enumerate(unique, start=1)}


def perfetto_trace_bytes(timelines: Sequence[Timeline],
                         flows_per_wait: int = DEFAULT_FLOWS_PER_WAIT
                         ) -> tuple[bytes, ExportSummary]:
    buffer = io.BytesIO()
    summary = write_perfetto_trace(timelines, buffer, flows_per_wait)
    return buffer.getvalue(), summary


# progress(timeline name, timelines done, timelines in all), called before each timeline
ExportProgress = Callable[[str, int, int], None]


def write_perfetto_trace(timelines: Sequence[Timeline], out: ByteSink,
                         flows_per_wait: int = DEFAULT_FLOWS_PER_WAIT,
                         progress: ExportProgress | None = None) -> ExportSummary:
    """Write every timeline, one process each, as a Perfetto trace to `out`."""
    if len(timelines) > MAX_TIMELINES:
        raise ValueError(f"at most {MAX_TIMELINES} timelines fit in one trace")
    writer = PacketWriter(out)
    exported: list[TimelineExport] = []
    for position, timeline in enumerate(timelines):
        if progress is not None:
            progress(timeline.name, position, len(timelines))
        exported.append(_write_timeline(writer, position, timeline, flows_per_wait))
    return ExportSummary(
        timelines=tuple(exported), tracks=writer.tracks, slices=writer.slices,
        flows=sum(item.flows for item in exported), counter_values=writer.counter_values,
        packets=writer.packets, bytes_written=writer.bytes_written)


# --- one timeline ----------------------------------------------------------------------------

# (timestamp, kind, track uuid, slice or counter value); kind: 0 end, 1 begin, 2 counter.
# Streams are merged by timestamp only (heapq.merge keeps each stream's own order).
_TrackEvent = tuple[int, int, int, SliceSpec | int]
_KIND_END = 0
_KIND_BEGIN = 1
_KIND_COUNTER = 2


def _write_timeline(writer: PacketWriter, position: int, timeline: Timeline,
                    flows_per_wait: int) -> TimelineExport:
    tracks_before, slices_before = writer.tracks, writer.slices
    pid = synthetic_pid(position)
    process_uuid = writer.process_track(pid, timeline.name)
    holds = timeline.mmap_lock_holds
    flows_out: dict[int, list[int]] = defaultdict(list)
    flows_in: dict[int, list[int]] = defaultdict(list)
    edges = wait_edges(holds, flows_per_wait)
    for edge in edges:
        flow_id = writer.new_flow_id()
        flows_out[edge.waiter].append(flow_id)
        flows_in[edge.holder].append(flow_id)
    comms = {lane.tid: lane.comm for lane in timeline.threads}

    streams: list[Iterator[_TrackEvent]] = []
    slices_by_tid = thread_slices(timeline, flows_out)
    numbers = thread_numbers(list(slices_by_tid))
    for tid, slices in slices_by_tid.items():
        comm = comms.get(tid, "?")
        thread_uuid = writer.thread_track(pid, synthetic_tid(position, numbers[tid]),
                                          f"{comm} {tid}")
        for lane_number, lane in enumerate(nest_into_lanes(slices)):
            uuid = thread_uuid if lane_number == 0 else writer.named_track(
                thread_uuid, f"{comm} {tid} overlaps", merge_by_name=True)
            streams.append(_lane_stream(uuid, lane))

    for mm, indices in holds_by_mm(holds).items():
        for write in (True, False):
            mode = "write" if write else "read"
            hold_slices = [hold_slice(holds[i], tuple(flows_in.get(i, ())), comms)
                           for i in indices if holds[i].write is write]
            for lane in nest_into_lanes(hold_slices):
                uuid = writer.named_track(process_uuid, f"mmap_lock {mm} {mode}",
                                          merge_by_name=True,
                                          description=f"mmap_lock {mode} holds of mm {mm}")
                streams.append(_lane_stream(uuid, lane))
        counter_uuid = writer.named_track(process_uuid, f"mmap_lock {mm} waiters", counter=True,
                                          description="threads waiting to acquire mmap_lock")
        streams.append(_counter_stream(counter_uuid, timeline.start_ns,
                                       waiter_counts(holds, indices)))

    for ts, kind, uuid, payload in heapq.merge(*streams, key=lambda event: event[0]):
        if kind == _KIND_COUNTER:
            assert isinstance(payload, int)
            writer.counter(ts, uuid, payload)
        else:
            assert isinstance(payload, SliceSpec)
            if kind == _KIND_BEGIN:
                writer.slice_begin(ts, uuid, payload)
            else:
                writer.slice_end(ts, uuid, payload)
    return TimelineExport(
        name=timeline.name, pid=pid, threads=len(slices_by_tid), faults=len(timeline.faults),
        lock_holds=len(holds), flows=len(edges), tracks=writer.tracks - tracks_before,
        slices=writer.slices - slices_before)


def _lane_stream(uuid: int, lane: list[LaneEvent]) -> Iterator[_TrackEvent]:
    for ts, edge, spec in lane:
        yield ts, _KIND_BEGIN if edge is Edge.BEGIN else _KIND_END, uuid, spec


def _counter_stream(uuid: int, start_ns: int, counts: list[tuple[int, int]]
                    ) -> Iterator[_TrackEvent]:
    if not counts or counts[0][0] > start_ns:
        yield start_ns, _KIND_COUNTER, uuid, 0
    for ts, value in counts:
        yield ts, _KIND_COUNTER, uuid, value
