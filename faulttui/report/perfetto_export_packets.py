"""Perfetto `TracePacket`s (track descriptors, slice begin/end, counters) streamed to a file.

Packets are built with the protos of the `perfetto` package and framed as the repeated
`Trace.packet` field, one at a time, so a large export never holds the whole trace in memory.
Event names and argument names are interned on one trusted packet sequence.
"""

from __future__ import annotations

from typing import Protocol

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (
    CounterDescriptor,
    TracePacket,
    TrackDescriptor,
    TrackEvent,
)

from faulttui.report.perfetto_export_layout import AnnotationValue, SliceSpec

SEQUENCE_ID = 1
_TRACE_PACKET_TAG = b"\x0a"  # Trace.packet: field 1, length-delimited
_TIMESTAMP_TAG = bytes([TracePacket.TIMESTAMP_FIELD_NUMBER << 3])  # a varint field
_INCREMENTAL_STATE_CLEARED = TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
_NEEDS_INCREMENTAL_STATE = TracePacket.SEQ_NEEDS_INCREMENTAL_STATE
_MERGE_BY_NAME = TrackDescriptor.SIBLING_MERGE_BEHAVIOR_BY_TRACK_NAME
_MERGE_NONE = TrackDescriptor.SIBLING_MERGE_BEHAVIOR_NONE


class ByteSink(Protocol):
    """Where the trace goes: a binary file, a gzip stream, a BytesIO."""

    def write(self, data: bytes, /) -> object: ...


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


class PacketWriter:
    """Writes packets to `out`; hands out track uuids and flow ids unique within the trace."""

    def __init__(self, out: ByteSink) -> None:
        self._out = out
        self._event_names: dict[str, int] = {}
        self._annotation_names: dict[str, int] = {}
        # packets that differ only by their timestamp, serialized without it (a message's
        # fields may come in any order): the end of a slice without flows, per track, and the
        # begin of a slice without arguments or flows, per track and name
        self._end_packets: dict[int, bytes] = {}
        self._plain_begin_packets: dict[tuple[int, str], bytes] = {}
        self._last_uuid = 0
        self._last_flow_id = 0
        self.packets = 0
        self.bytes_written = 0
        self.tracks = 0
        self.slices = 0
        self.counter_values = 0
        clear = TracePacket()
        clear.trusted_packet_sequence_id = SEQUENCE_ID
        clear.sequence_flags = _INCREMENTAL_STATE_CLEARED
        self._write(clear)

    # --- ids ---------------------------------------------------------------------------------

    def new_flow_id(self) -> int:
        self._last_flow_id += 1
        return self._last_flow_id

    def _new_uuid(self) -> int:
        self._last_uuid += 1
        return self._last_uuid

    # --- tracks ------------------------------------------------------------------------------

    def process_track(self, pid: int, name: str) -> int:
        packet, track = self._track_packet()
        track.process.pid = pid
        track.process.process_name = name
        self._write(packet)
        return int(track.uuid)

    def thread_track(self, pid: int, tid: int, name: str) -> int:
        """A thread's track: `pid` ties it to its process track (no parent uuid needed)."""
        packet, track = self._track_packet()
        track.thread.pid = pid
        track.thread.tid = tid
        track.thread.thread_name = name
        self._write(packet)
        return int(track.uuid)

    def named_track(self, parent_uuid: int, name: str, *, merge_by_name: bool = False,
                    counter: bool = False, description: str = "") -> int:
        """A child track; siblings with the same name show as one when `merge_by_name`."""
        packet, track = self._track_packet()
        track.parent_uuid = parent_uuid
        track.name = name
        track.sibling_merge_behavior = _MERGE_BY_NAME if merge_by_name else _MERGE_NONE
        if description:
            track.description = description
        if counter:
            track.counter.CopyFrom(CounterDescriptor())
        self._write(packet)
        return int(track.uuid)

    def _track_packet(self) -> tuple[TracePacket, TrackDescriptor]:
        packet = TracePacket()
        packet.trusted_packet_sequence_id = SEQUENCE_ID
        track = packet.track_descriptor
        track.uuid = self._new_uuid()
        self.tracks += 1
        return packet, track

    # --- events ------------------------------------------------------------------------------

    def slice_begin(self, ts_ns: int, track_uuid: int, spec: SliceSpec) -> None:
        self.slices += 1
        plain = not spec.annotations and not spec.flows_out
        if plain:
            rest = self._plain_begin_packets.get((track_uuid, spec.name))
            if rest is not None:
                self._write_serialized(_TIMESTAMP_TAG + _varint(ts_ns) + rest)
                return
        packet, event = self._event_packet(ts_ns, track_uuid, TrackEvent.TYPE_SLICE_BEGIN)
        event.name_iid = self._event_name_iid(packet, spec.name)
        for name, value in spec.annotations:
            self._annotate(packet, event, name, value)
        if spec.flows_out:
            event.flow_ids.extend(spec.flows_out)
        self._write(packet)
        if plain:  # the next such begin on this track reuses this one but for its timestamp
            packet.ClearField("timestamp")
            packet.ClearField("interned_data")
            self._plain_begin_packets[(track_uuid, spec.name)] = packet.SerializeToString()

    def slice_end(self, ts_ns: int, track_uuid: int, spec: SliceSpec) -> None:
        if spec.flows_in:
            packet, event = self._event_packet(ts_ns, track_uuid, TrackEvent.TYPE_SLICE_END)
            event.terminating_flow_ids.extend(spec.flows_in)
            self._write(packet)
            return
        rest = self._end_packets.get(track_uuid)
        if rest is None:
            packet, _ = self._event_packet(0, track_uuid, TrackEvent.TYPE_SLICE_END)
            packet.ClearField("timestamp")
            rest = self._end_packets[track_uuid] = packet.SerializeToString()
        self._write_serialized(_TIMESTAMP_TAG + _varint(ts_ns) + rest)

    def counter(self, ts_ns: int, track_uuid: int, value: int) -> None:
        packet, event = self._event_packet(ts_ns, track_uuid, TrackEvent.TYPE_COUNTER)
        event.counter_value = value
        self._write(packet)
        self.counter_values += 1

    def _event_packet(self, ts_ns: int, track_uuid: int, event_type: int
                      ) -> tuple[TracePacket, TrackEvent]:
        packet = TracePacket()
        packet.timestamp = ts_ns
        packet.trusted_packet_sequence_id = SEQUENCE_ID
        packet.sequence_flags = _NEEDS_INCREMENTAL_STATE
        event = packet.track_event
        event.type = event_type
        event.track_uuid = track_uuid
        return packet, event

    def _event_name_iid(self, packet: TracePacket, name: str) -> int:
        iid = self._event_names.get(name)
        if iid is None:
            iid = self._event_names[name] = len(self._event_names) + 1
            entry = packet.interned_data.event_names.add()
            entry.iid = iid
            entry.name = name
        return iid

    def _annotate(self, packet: TracePacket, event: TrackEvent, name: str,
                  value: AnnotationValue) -> None:
        iid = self._annotation_names.get(name)
        if iid is None:
            iid = self._annotation_names[name] = len(self._annotation_names) + 1
            entry = packet.interned_data.debug_annotation_names.add()
            entry.iid = iid
            entry.name = name
        annotation = event.debug_annotations.add()
        annotation.name_iid = iid
        if isinstance(value, bool):
            annotation.bool_value = value
        elif isinstance(value, int):
            annotation.int_value = value
        else:
            annotation.string_value = value

    def _write(self, packet: TracePacket) -> None:
        self._write_serialized(packet.SerializeToString())

    def _write_serialized(self, data: bytes) -> None:
        framed = _TRACE_PACKET_TAG + _varint(len(data)) + data
        self._out.write(framed)
        self.packets += 1
        self.bytes_written += len(framed)
