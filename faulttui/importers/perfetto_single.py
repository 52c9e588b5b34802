"""Ftrace events decoded one at a time: what the bulk path of perfetto_bundle.py leaves.

Legacy generic events whose layout changes within a bundle, typed events faulttui does not
model (kept as name + raw text), dense events whose descriptor never came, and events in an
unexpected encoding. Slow (protobuf attribute access per field), and rare.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.unknown_fields import UnknownFieldSet

from faulttui.importers.events import ImportStats
from faulttui.importers.perfetto_decoders import DecoderCache
from faulttui.importers.perfetto_fields import Decoded, Fields, raw_text, text
from faulttui.importers.perfetto_schema import (
    DENSE_FIRST_FIELD_ID,
    LEGACY_GENERIC_FIELD_ID,
    EventLayout,
    TraceSchema,
)
from faulttui.importers.perfetto_store import DecodedBundle, StoredBundle


class SingleEventDecoder:
    """Decodes parsed `FtraceEvent` messages one by one, with the bulk path's decoders."""

    def __init__(self, schema: TraceSchema, decoders: DecoderCache, stats: ImportStats) -> None:
        self.schema = schema
        self.decoders = decoders
        self.stats = stats
        self.undescribed: dict[int, int] = {}  # field id (0: no payload) -> events

    def bundle(self, bundle: StoredBundle) -> DecodedBundle:
        """All events of a bundle the bulk path could not take (events without timestamp are
        dropped: they cannot be placed in the merge)."""
        events = [e for e in self.schema.views.full.FromString(bundle.raw).event
                  if e.HasField("timestamp")]
        names: list[str] = []
        fields: list[Fields] = []
        for event in events:
            name, event_fields = self.events_of_kind(self._field_number(event), [event])
            names += name
            fields += event_fields
        return [e.timestamp for e in events], names, [e.pid for e in events], fields

    def _field_number(self, event: Any) -> int:
        which = event.WhichOneof("event")
        if which is not None:
            return int(event.DESCRIPTOR.fields_by_name[which].number)
        for unknown in UnknownFieldSet(event):  # a dense event whose descriptor never came
            if unknown.field_number >= DENSE_FIRST_FIELD_ID:
                return int(unknown.field_number)
        return 0

    def events_of_kind(self, kind: int, events: list[Any]) -> Decoded:
        """Events of one kind (`kind`: their FtraceEvent field number), one by one."""
        if kind == LEGACY_GENERIC_FIELD_ID:
            return self._legacy_generic(events)
        names: list[str] = []
        rows: list[Fields] = []
        layout = self.schema.layout(kind)
        for event in events:
            which = event.WhichOneof("event")
            if which is None:  # no payload, or a dense one whose descriptor never came
                names.append("ftrace_event")
                rows.append({"raw": f"FtraceEvent field {kind}" if kind else "no payload"})
                self.undescribed[kind] = self.undescribed.get(kind, 0) + 1
                self.stats.unknown_events += 1
                continue
            payload = getattr(event, which)
            if layout is None:  # a typed event faulttui does not model
                listed = payload.ListFields()
                names.append(which)
                rows.append({"raw": raw_text([f.name for f, _ in listed], [v for _, v in listed])})
                self.stats.unknown_events += 1
                continue
            columns = {name: _column(getattr(payload, attribute))
                       for name, attribute in zip(layout.fields, layout.attributes, strict=True)}
            decoded = self.decoders.get(layout.field_id, layout)(columns, 1)
            if decoded is None:
                decoded = ([layout.name], [{"raw": raw_text(list(columns), list(columns.values())),
                                             "malformed": True}])
            names += decoded[0]
            rows += decoded[1]
        return names, rows

    def _legacy_generic(self, events: list[Any]) -> Decoded:
        """GenericFtraceEvent (field 327): name + (name, value) pairs, decoded per layout."""
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        values: list[list[Any]] = []
        for index, event in enumerate(events):
            generic = event.generic
            pairs = [_legacy_field(f) for f in generic.field]
            key = (text(generic.event_name), tuple(text(name) for name, _ in pairs))
            groups.setdefault(key, []).append(index)
            values.append([value for _, value in pairs])
        names: list[str] = [""] * len(events)
        rows: list[Fields] = [{}] * len(events)
        for (event_name, field_names), indexes in groups.items():
            layout = EventLayout(LEGACY_GENERIC_FIELD_ID, event_name, "", field_names, field_names)
            columns = {name: [values[i][position] for i in indexes]
                       for position, name in enumerate(field_names)}
            decoder = self.decoders.get((event_name, field_names), layout)
            decoded = decoder(columns, len(indexes))
            if decoded is None:
                decoded = ([event_name] * len(indexes),
                           [{"raw": raw_text(field_names, values[i]), "malformed": True}
                            for i in indexes])
            for index, name, event_fields in zip(indexes, decoded[0], decoded[1], strict=True):
                names[index] = name
                rows[index] = event_fields
        return names, rows


def _legacy_field(entry: Any) -> tuple[str, Any]:
    which = entry.WhichOneof("value")
    return entry.name, (getattr(entry, which) if which is not None else 0)


def _column(value: Any) -> list[Any]:
    """One event's value as a one-row column (a repeated field is already a column)."""
    if isinstance(value, (int, float, str, bytes)):
        return [value]
    return list(value)
