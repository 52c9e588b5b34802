"""Import Perfetto protobuf traces (`.perfetto-trace`, `.pftrace`) as normalized events.

Reads the ftrace data of a trace recorded by Perfetto (kernel-fault-path.md section 4),
with the generated protos of the `perfetto` package and no native helper (trace processor
is never started):

* the packet stream, one packet at a time, including zlib `compressed_packets`;
* `FtraceEventBundle`s: typed events, `compact_sched` switches and wakings, generic events
  in both the legacy `GenericFtraceEvent` encoding and the dense descriptor-based one;
* `process_tree` (thread names and tgids), `system_info` (page size, architecture) and
  `ftrace_stats` / bundle `lost_events` (lost events).

Bundles are per CPU, so events are merged by timestamp before they are yielded; events with
equal timestamps keep their order in the file. The events are the text importer's: same
names, same field names and types (see perfetto_fields.py for the raw-to-text mapping).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from itertools import repeat
from operator import and_
from typing import BinaryIO

from google.protobuf.message import DecodeError
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

from faulttui.errors import TraceFormatError
from faulttui.importers.events import UNKNOWN_TGID, Event, ImportStats
from faulttui.importers.perfetto_bundle import BundleDecoder
from faulttui.importers.perfetto_fields import DecodeContext
from faulttui.importers.perfetto_metadata import TraceMetadata
from faulttui.importers.perfetto_sched import SchedContext
from faulttui.importers.perfetto_schema import SchemaError, TraceSchema
from faulttui.importers.perfetto_store import SEQ_BITS, SEQ_MASK, BundleStore
from faulttui.importers.perfetto_wire import (
    MAX_PACKET_BYTES,
    TRACE_PACKET_TAG,
    WireError,
    inflate,
    iter_fields,
    iter_packet_records,
    iter_trace_packets,
    read_varint,
    unzstd,
)

# A decoded bundle while the merge is inside it: its events, which of them need the merge
# order (sched events: who runs on the CPU), its first sequence number and its CPU.
_LiveBundle = tuple[list[Event], bytes, int, int]
_SCHED_EVENTS = frozenset({"sched_switch", "sched_waking"})
_new_event = tuple.__new__  # Event(...) without namedtuple's Python-level __new__

# TracePacket fields the importer reads (protos/perfetto/trace/trace_packet.proto).
PACKET_FTRACE_EVENTS = 1
PACKET_PROCESS_TREE = 2
PACKET_FTRACE_STATS = 34
PACKET_SYSTEM_INFO = 45
PACKET_COMPRESSED = 50
PACKET_ZSTD_COMPRESSED = 133
_PACKET_FIELDS = pb.TracePacket.DESCRIPTOR.fields_by_number


def is_perfetto(head: bytes) -> bool:
    """Whether `head` (the first decompressed bytes of a file) starts a Perfetto trace."""
    if not head.startswith(bytes([TRACE_PACKET_TAG])):
        return False
    try:
        length, start = read_varint(head, 1)
    except WireError:
        return False
    if not 0 < length <= MAX_PACKET_BYTES:
        return False
    packet = head[start : start + length]
    if len(packet) == length:
        try:
            pb.TracePacket.FromString(packet)
        except DecodeError:
            return False
        return True
    # Only a prefix of the first packet is here: its first field must be a TracePacket field.
    try:
        key, _ = read_varint(packet, 0)
    except WireError:
        return False
    known = _PACKET_FIELDS.get(key >> 3)
    return known is not None and key & 7 in (0, 1, 2, 5)


def read_perfetto(path: str, stream: BinaryIO, stats: ImportStats) -> Iterator[Event]:
    """The ftrace events of the Perfetto trace in `stream`, in timestamp order.

    Reads the whole stream before returning (bundles are per CPU: nothing can be yielded
    before all are indexed); raises TraceFormatError then for a truncated or non-Perfetto
    file and for a trace without ftrace data. Fills `stats` as bundles are decoded.
    """
    stats.format = "perfetto"
    trace = _PerfettoTrace(path, stats)
    trace.read(stream)
    return trace.events()


class _PerfettoTrace:
    """One import: the read phase fills the bundle store, then `events` merges and decodes."""

    def __init__(self, path: str, stats: ImportStats) -> None:
        self.path = path
        self.stats = stats
        self.schema = TraceSchema()
        self.store = BundleStore(self.schema, stats)
        self.context = DecodeContext()
        self.metadata = TraceMetadata(path, stats, self.context)
        self.comms = self.metadata.comms
        self.tgids = self.metadata.tgids
        self.bundles_seen = 0

    # --- read phase -------------------------------------------------------------------------

    def read(self, stream: BinaryIO) -> None:
        for offset, packet in iter_trace_packets(stream, self.path):
            try:
                self._packet(packet, offset)
            except TraceFormatError as error:
                error.path = error.path or self.path
                raise
            except (WireError, DecodeError) as error:
                raise TraceFormatError(
                    f"not a Perfetto trace, or damaged: the packet at byte {offset} does not "
                    f"parse ({error or type(error).__name__})",
                    path=self.path,
                ) from None
        if not self.bundles_seen:
            raise TraceFormatError(
                "this Perfetto trace has no ftrace data (record with the linux.ftrace data "
                "source and the page-fault, mmap_lock and sched events)",
                path=self.path,
            )
        if not self.store.keys:
            raise TraceFormatError("this Perfetto trace has ftrace bundles but no events",
                                   path=self.path)
        self._summarize_read()

    def _packet(self, packet: bytes, offset: int, compressed: bool = False) -> None:
        """One TracePacket (`offset`: where it, or the compressed packet holding it, starts)."""
        for number, _, value in iter_fields(packet):
            if not isinstance(value, bytes):
                continue
            if number == PACKET_FTRACE_EVENTS:
                self.bundles_seen += 1
                self.store.add(value, offset)
            elif number in (PACKET_COMPRESSED, PACKET_ZSTD_COMPRESSED):
                if compressed:
                    raise WireError("compressed packets inside compressed packets")
                payload = inflate(value) if number == PACKET_COMPRESSED else unzstd(value)
                for inner in iter_packet_records(payload):
                    self._packet(inner, offset, compressed=True)
            elif number == PACKET_PROCESS_TREE:
                self.metadata.process_tree(value)
            elif number == PACKET_FTRACE_STATS:
                self.metadata.ftrace_stats(value)
            elif number == PACKET_SYSTEM_INFO:
                self.metadata.system_info(value)

    def _summarize_read(self) -> None:
        stats, store = self.stats, self.store
        self.metadata.count_lost_events(store.lost_bundles)
        if store.bundle_errors:
            stats.warn(f"{self.path}: {store.bundle_errors} ftrace read errors recorded in bundles")
        if store.compact_sched_errors:
            stats.warn(f"{self.path}: {store.compact_sched_errors} compact_sched events have "
                       "incomplete columns and were skipped")
        if store.clocks:
            stats.warn(f"{self.path}: ftrace used a non-boot clock ({sorted(store.clocks)}); "
                       "timestamps are that clock's")

    # --- yield phase ------------------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        """Merge the bundles by timestamp, decoding each when the merge first reaches it."""
        store, decoder = self.store, BundleDecoder(self.schema, self.context, self.stats)
        keys = store.keys
        keys.sort()
        # The merge order as a flat array: a list of a million ints would be scanned by
        # every full collection of the cyclic GC while the events stream out.
        merged = array("Q", map(and_, keys, repeat(SEQ_MASK, len(keys))))
        keys.clear()
        bundle_of_seq, last_keys = store.bundle_of_seq, store.last_keys
        live: dict[int, _LiveBundle] = {}
        sched = SchedContext(self.comms)
        current = sched.current
        index = -1
        events: list[Event] = []
        in_order = b""
        first_seq = cpu = 0
        for seq in merged:
            if bundle_of_seq[seq] != index:
                index = bundle_of_seq[seq]
                bundle = live.get(index)
                if bundle is None:
                    bundle = self._decode(decoder, index)
                    # the merge is at this event's key: bundles that ended before are done
                    self._evict(live, bundle[0][seq - bundle[2]][0] << SEQ_BITS | seq, last_keys)
                    live[index] = bundle
                events, in_order, first_seq, cpu = bundle
            position = seq - first_seq
            event = events[position]
            if in_order[position]:
                event = self._sched_event(sched, event)
            else:
                current[cpu] = event[2]
            yield event
        self._summarize_events(decoder, sched)

    def _sched_event(self, sched: SchedContext, event: Event) -> Event:
        """A sched_switch/waking: resolve a compact one's task and follow who runs where."""
        ts_ns, cpu, tid, _, _, name, fields, line, offset = event
        if name == "sched_switch":
            tid = sched.switch(cpu, tid, fields)
        else:
            tid = sched.waking(cpu, tid, fields)
        return _new_event(Event, (ts_ns, cpu, tid, self.tgids.get(tid, UNKNOWN_TGID),
                                  self.comms.get(tid, ""), name, fields, line, offset))

    def _evict(self, live: dict[int, _LiveBundle], key: int, last_keys: list[int]) -> None:
        """Drop the decoded bundles whose events have all been yielded (their last key < key)."""
        for index in [i for i in live if last_keys[i] < key]:
            del live[index]
            self.store.bundles[index].raw = b""

    def _decode(self, decoder: BundleDecoder, index: int) -> _LiveBundle:
        """A bundle's events, built in bulk; those needing the merge order are flagged."""
        bundle = self.store.bundles[index]
        try:
            timestamps, names, tids, fields = decoder.decode(bundle)
        except DecodeError:
            raise TraceFormatError(
                f"damaged ftrace bundle in the packet at byte {bundle.offset}", path=self.path
            ) from None
        except SchemaError as error:
            raise TraceFormatError(str(error), path=self.path) from None
        count = len(names)
        if count != bundle.count:
            raise TraceFormatError(
                f"inconsistent ftrace bundle in the packet at byte {bundle.offset} "
                f"({count} events decoded, {bundle.count} timestamps)",
                path=self.path,
            )
        self.stats.events += count
        counts = self.stats.event_counts
        for name, times in Counter(names).items():
            counts[name] = counts.get(name, 0) + times
        columns = zip(
            timestamps, repeat(bundle.cpu, count), tids,
            map(self.tgids.get, tids, repeat(UNKNOWN_TGID, count)),
            map(self.comms.get, tids, repeat("", count)), names, fields,
            repeat(0, count), repeat(bundle.offset, count), strict=True,
        )
        events = list(map(_new_event, repeat(Event, count), columns))
        in_order = bytes(map(_SCHED_EVENTS.__contains__, names))
        return events, in_order, bundle.first_seq, bundle.cpu

    def _summarize_events(self, decoder: BundleDecoder, sched: SchedContext) -> None:
        if sched.unknown_prev:
            self.stats.warn(
                f"{self.path}: {sched.unknown_prev} compact sched_switch events are the first "
                "event on their CPU: their previous task is unknown (prev_pid -1, tid -1)"
            )
        if sched.first_prev_from_events:
            self.stats.warn(
                f"{self.path}: {sched.first_prev_from_events} compact sched_switch events are the "
                "first on their CPU: their previous task is the one whose events ran there "
                "before (its prio unknown: prev_prio -1 unless seen elsewhere)"
            )
        if sched.missed_switch_in:
            self.stats.warn(
                f"{self.path}: {sched.missed_switch_in} compact sched_switch events switch out a "
                "task that no recorded switch switched in (lost or filtered switches); the "
                "previous task is the one whose events ran on that CPU since"
            )
        for field_id, count in sorted(decoder.single.undescribed.items()):
            what = (f"generic events with field id {field_id} have no descriptor in the trace"
                    if field_id else "ftrace events have no payload")
            self.stats.warn(f"{self.path}: {count} {what}; kept as unknown events")
