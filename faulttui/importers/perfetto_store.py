"""The read phase of a Perfetto import: each ftrace bundle kept as bytes, one sort key per event.

Bundles are per CPU, so the trace's events have to be merged by timestamp before anything
can be yielded. While the trace streams in, `BundleStore.add` parses only a bundle's
timestamps (and its generic-event descriptors, lost-event flag and errors) and keeps the
bundle's bytes, the most compact form there is; perfetto_bundle.py decodes a bundle when
the merge first reaches it.

Inside a bundle, `compact_sched` switches come first, then compact wakings, then the
`event` list (the order trace processor uses for events with equal timestamps).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import lshift, or_
from typing import Any

from faulttui.importers.events import ImportStats
from faulttui.importers.perfetto_fields import text
from faulttui.importers.perfetto_schema import TraceSchema

# A decoded bundle: parallel lists of its events' timestamps, names, tids (CPU_TASK for
# compact sched events: the CPU's current task, resolved in merge order) and fields.
DecodedBundle = tuple[list[int], list[str], list[int], list[dict[str, Any]]]

SEQ_BITS = 40  # sort key = timestamp << SEQ_BITS | event sequence number (stable ties)
SEQ_MASK = (1 << SEQ_BITS) - 1


@dataclass(slots=True)
class StoredBundle:
    cpu: int
    raw: bytes
    offset: int  # byte offset of the TracePacket that carried it
    first_seq: int
    switches: int
    wakings: int
    regular: int

    @property
    def count(self) -> int:
        return self.switches + self.wakings + self.regular


@dataclass
class BundleStore:
    """The read phase: every bundle's bytes, and a sort key per event."""

    schema: TraceSchema
    stats: ImportStats
    keys: list[int] = field(default_factory=list)
    bundles: list[StoredBundle] = field(default_factory=list)
    bundle_of_seq: array = field(default_factory=lambda: array("I"))
    last_keys: list[int] = field(default_factory=list)  # per bundle: its largest sort key
    lost_bundles: int = 0
    bundle_errors: int = 0
    compact_sched_errors: int = 0
    clocks: set[int] = field(default_factory=set)

    def add(self, raw: bytes, offset: int) -> None:
        """Index one FtraceEventBundle (raises DecodeError if it does not parse)."""
        head = self.schema.head.FromString(raw)
        if head.generic_event_descriptors:
            descriptors = [(d.field_id, text(d.group_name), d.event_descriptor)
                           for d in head.generic_event_descriptors]
            for problem in self.schema.add_descriptors(descriptors):
                self.stats.warn(f"{self.stats.path}: byte {offset}: {problem}")
        if head.lost_events:
            self.lost_bundles += 1
        self.bundle_errors += len(head.error)
        if head.ftrace_clock:
            self.clocks.add(head.ftrace_clock)
        switch_ts, waking_ts = self._compact_timestamps(head.compact_sched)
        regular_ts = list(head.event.timestamp)
        first_seq = len(self.keys)
        timestamps = switch_ts + waking_ts + regular_ts
        if not timestamps:
            return
        bundle_index = len(self.bundles)
        self.bundles.append(StoredBundle(head.cpu, raw, offset, first_seq, len(switch_ts),
                                         len(waking_ts), len(regular_ts)))
        count = len(timestamps)
        self.keys.extend(map(or_, map(lshift, timestamps, repeat(SEQ_BITS, count)),
                             range(first_seq, first_seq + count)))
        self.bundle_of_seq.extend(repeat(bundle_index, count))
        self.last_keys.append(max(self.keys[first_seq:]))

    def _compact_timestamps(self, compact: Any) -> tuple[list[int], list[int]]:
        """Absolute timestamps of the compact switches and wakings that are complete."""
        switches = min(len(compact.switch_timestamp), len(compact.switch_prev_state),
                       len(compact.switch_next_pid), len(compact.switch_next_prio),
                       len(compact.switch_next_comm_index))
        wakings = min(len(compact.waking_timestamp), len(compact.waking_pid),
                      len(compact.waking_target_cpu), len(compact.waking_prio),
                      len(compact.waking_comm_index))
        dropped = (len(compact.switch_timestamp) - switches) + (len(compact.waking_timestamp) - wakings)
        self.compact_sched_errors += dropped
        return (list(accumulate(compact.switch_timestamp[:switches])),
                list(accumulate(compact.waking_timestamp[:wakings])))
