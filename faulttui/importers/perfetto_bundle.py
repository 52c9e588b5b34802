"""Decoding one ftrace bundle (kept as bytes by perfetto_store.py) into events, in bulk.

The bulk path reads the bundle through the merged-columns view (perfetto_schema.py), so
the C parser does the per-event work: each event kind's fields arrive as columns, which
perfetto_fields.py turns into field dicts; the kinds' rows are then dealt out in event
order, read from each event's tag. Events the bulk path cannot take (legacy generic
events, typed events faulttui does not model, odd encodings) are decoded one by one.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from itertools import accumulate
from operator import methodcaller
from typing import Any

from faulttui.importers.events import ImportStats
from faulttui.importers.perfetto_decoders import DecoderCache
from faulttui.importers.perfetto_fields import (
    Columns,
    DecodeContext,
    Decoded,
    Fields,
    text,
)
from faulttui.importers.perfetto_legacy import LegacyLayout, learn_layout, split_by_tracepoint
from faulttui.importers.perfetto_sched import CPU_TASK, UNKNOWN_PRIO, UNKNOWN_TID
from faulttui.importers.perfetto_schema import (
    LEGACY_GENERIC_FIELD_ID,
    EventLayout,
    TraceSchema,
)
from faulttui.importers.perfetto_single import SingleEventDecoder
from faulttui.importers.perfetto_store import DecodedBundle, StoredBundle

# FtraceEvent as Perfetto writes it: timestamp (1), pid (2), optional common_flags (5), then
# the event's own field; group 1 is that field's tag.
_EVENT_KIND = re.compile(
    rb"\x08[\x80-\xff]{0,9}[\x00-\x7f]\x10[\x80-\xff]{0,9}[\x00-\x7f]"
    rb"(?:\x28[\x80-\xff]{0,9}[\x00-\x7f])?([\x80-\xff]{0,4}[\x00-\x7f])"
)
_GROUP_1 = methodcaller("group", 1)


class BundleDecoder:
    """The yield phase: one stored bundle -> its events' timestamps, names, tids and fields."""

    def __init__(self, schema: TraceSchema, context: DecodeContext, stats: ImportStats) -> None:
        self.schema = schema
        self.decoders = DecoderCache(context, stats)
        self.single = SingleEventDecoder(schema, self.decoders, stats)
        self.converters = self.decoders.converters
        self._tag_numbers: dict[bytes, int] = {}
        self._legacy_layouts: dict[str, LegacyLayout] = {}

    def decode(self, bundle: StoredBundle) -> DecodedBundle:
        timestamps: list[int] = []
        names: list[str] = []
        tids: list[int] = []
        fields: list[Fields] = []
        columns = self.schema.views.columns.FromString(bundle.raw)
        if bundle.switches or bundle.wakings:
            compact = columns.compact_sched
            timestamps += accumulate(compact.switch_timestamp[: bundle.switches])
            timestamps += accumulate(compact.waking_timestamp[: bundle.wakings])
            self._compact(compact, bundle, names, tids, fields)
        if bundle.regular:
            decoded = self._regular_bulk(bundle, columns.event)
            if decoded is None:
                decoded = self.single.bundle(bundle)
            timestamps += decoded[0]
            names += decoded[1]
            tids += decoded[2]
            fields += decoded[3]
        return timestamps, names, tids, fields

    # --- compact sched ---------------------------------------------------------------------

    def _compact(self, compact: Any, bundle: StoredBundle, names: list[str],
                 tids: list[int], fields: list[Fields]) -> None:
        intern = [name if type(name) is str else text(name) for name in compact.intern_table]
        comm = [intern[i] if i < len(intern) else "" for i in compact.switch_next_comm_index]
        state = self.converters["state"](compact.switch_prev_state[: bundle.switches])
        for prev_state, next_pid, next_prio, next_comm in zip(
            state, compact.switch_next_pid, compact.switch_next_prio, comm, strict=False
        ):
            fields.append({"prev_comm": "", "prev_pid": UNKNOWN_TID, "prev_prio": UNKNOWN_PRIO,
                           "prev_state": prev_state, "next_comm": next_comm,
                           "next_pid": next_pid, "next_prio": next_prio})
        comm = [intern[i] if i < len(intern) else "" for i in compact.waking_comm_index]
        for pid, target_cpu, prio, waking_comm in zip(
            compact.waking_pid[: bundle.wakings], compact.waking_target_cpu, compact.waking_prio,
            comm, strict=False,
        ):
            fields.append({"comm": waking_comm, "pid": pid, "prio": prio, "target_cpu": target_cpu})
        names += ["sched_switch"] * bundle.switches
        names += ["sched_waking"] * bundle.wakings
        tids += [CPU_TASK] * (bundle.switches + bundle.wakings)

    # --- the event list, in bulk ----------------------------------------------------------------

    def _kinds(self, bundle: StoredBundle) -> list[int] | None:
        """The FtraceEvent field number of each event's payload, or None if one is odd.

        (map() keeps the per-event work in C: this runs once per event of the trace.)
        """
        events = self.schema.event_bytes.FromString(bundle.raw).event
        matches = list(map(_EVENT_KIND.match, events))
        if None in matches:
            return None
        tags = list(map(_GROUP_1, matches))
        if not self._tag_numbers.keys() >= set(tags):
            for tag in set(tags) - self._tag_numbers.keys():
                if not self._learn_tag(tag):
                    return None
        return list(map(self._tag_numbers.__getitem__, tags))

    def _learn_tag(self, tag: bytes) -> bool:
        value = 0
        for shift, byte in enumerate(tag):
            value |= (byte & 0x7F) << (7 * shift)
        if value & 7 != 2:  # the payload is always a length-delimited message
            return False
        self._tag_numbers[tag] = value >> 3
        return True

    def _regular_bulk(self, bundle: StoredBundle, event_columns: Any) -> DecodedBundle | None:
        kinds = self._kinds(bundle)
        pids = list(event_columns.pid)
        if kinds is None or len(kinds) != bundle.regular or len(pids) != bundle.regular:
            return None  # events without timestamp/pid, or an unexpected field order
        names_of_kind: dict[int, Iterator[str]] = {}
        fields_of_kind: dict[int, Iterator[Fields]] = {}
        full_events: Any = None
        self._learn_legacy_layouts(bundle, kinds, event_columns)
        for kind, count in Counter(kinds).items():
            decoded = self._kind_bulk(kind, count, event_columns)
            if decoded is None:
                if full_events is None:
                    full_events = self.schema.views.full.FromString(bundle.raw).event
                decoded = self.single.events_of_kind(
                    kind, [full_events[i] for i, k in enumerate(kinds) if k == kind]
                )
            names_of_kind[kind] = iter(decoded[0])
            fields_of_kind[kind] = iter(decoded[1])
        # each kind's rows are in event order: deal them out in the order of `kinds`
        names = list(map(next, map(names_of_kind.__getitem__, kinds)))
        fields = list(map(next, map(fields_of_kind.__getitem__, kinds)))
        return list(event_columns.timestamp), names, pids, fields

    def _kind_bulk(self, kind: int, count: int, event_columns: Any) -> Decoded | None:
        if kind == LEGACY_GENERIC_FIELD_ID:
            return self._legacy_bulk(count, getattr(event_columns, f"k{kind}"))
        layout = self.schema.layout(kind)
        if layout is None:
            return None
        decoder = self.decoders.get(layout.field_id, layout)
        kind_columns = getattr(event_columns, f"k{kind}")
        columns: Columns = {
            name: list(getattr(kind_columns, attribute))
            for name, attribute in zip(layout.fields, layout.attributes, strict=True)
        }
        return decoder(columns, count)

    def _learn_legacy_layouts(self, bundle: StoredBundle, kinds: list[int],
                              event_columns: Any) -> None:
        """Learn the layout of each legacy generic tracepoint not seen yet (once per name)."""
        if LEGACY_GENERIC_FIELD_ID not in kinds:
            return
        legacy = getattr(event_columns, f"k{LEGACY_GENERIC_FIELD_ID}")
        if self._legacy_layouts.keys() >= set(legacy.event_name):
            return
        events = self.schema.views.full.FromString(bundle.raw).event
        for index, kind in enumerate(kinds):
            if kind == LEGACY_GENERIC_FIELD_ID:
                learnt = learn_layout(events[index].generic)
                if learnt is not None:
                    self._legacy_layouts.setdefault(*learnt)

    def _legacy_bulk(self, count: int, columns: Any) -> Decoded | None:
        split = split_by_tracepoint(columns, count, self._legacy_layouts)
        if split is None:
            return None
        names: list[str] = [""] * count
        rows: list[Fields] = [{}] * count
        for event_name, (positions, event_columns) in split.items():
            field_names = self._legacy_layouts[event_name].names
            layout = EventLayout(LEGACY_GENERIC_FIELD_ID, event_name, "", field_names, field_names)
            decoded = self.decoders.get((event_name, field_names), layout)(event_columns,
                                                                       len(positions))
            if decoded is None:
                return None
            for position, name, event_fields in zip(positions, *decoded, strict=True):
                names[position] = name
                rows[position] = event_fields
        return names, rows
