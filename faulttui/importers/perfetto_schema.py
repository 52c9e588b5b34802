"""Run-time protobuf views of `FtraceEventBundle` that let C code do the per-event work.

Python pays ~100 ns per protobuf attribute access and per wrapper object, so reading a
million `FtraceEvent` messages one by one is slow. These views exploit protobuf merge
semantics instead: when a non-repeated message field occurs many times, the occurrences are
merged, and their repeated fields concatenate. Declaring the bundle's `event` field (2) as
one non-repeated message whose fields are all repeated turns a bundle's events into columns:
all timestamps in one list, all `mmap_lock_acquire_returned.mm` values in another, and so on,
decoded by the C parser.

Views built per trace from the generated `perfetto_trace_pb2` descriptors plus the
trace's own dense generic-event descriptors (Perfetto v53+: an `FtraceEvent` field id >=
65536 per untyped tracepoint, described by a `DescriptorProto` in the bundle):

* `head`: the bundle with its events merged into one timestamp column (read phase);
* `event_bytes`: each event as bytes (its kind is read from them);
* `columns`: every event kind faulttui decodes in bulk, merged into per-kind columns;
* `full`: the ordinary per-event message (with the dense fields), for the slow paths.

The event *order* is not in the merged columns; it comes from the event kinds, which the
caller reads from the event bytes (see perfetto_bundle.py).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError
from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

FieldProto = descriptor_pb2.FieldDescriptorProto

DENSE_FIRST_FIELD_ID = 65536
MAX_FIELD_NUMBER = (1 << 29) - 1  # protobuf's
DENSE_MAX_FIELDS = 32  # Perfetto's own limit; more means a corrupt descriptor
LEGACY_GENERIC_FIELD_ID = pb.FtraceEvent.DESCRIPTOR.fields_by_name["generic"].number

# Typed events decoded in bulk (the ones faulttui models that have a typed proto).
BULK_TYPED_EVENTS: tuple[str, ...] = (
    "sched_switch", "sched_waking", "block_rq_issue", "block_rq_complete",
    "mm_filemap_add_to_page_cache", "mm_filemap_delete_from_page_cache",
    "mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end",
    "mm_vmscan_memcg_reclaim_begin", "mm_vmscan_memcg_reclaim_end",
    "sys_enter", "sys_exit",
)
_SCALAR_TYPES = frozenset({
    FieldProto.TYPE_DOUBLE, FieldProto.TYPE_FLOAT, FieldProto.TYPE_INT64, FieldProto.TYPE_UINT64,
    FieldProto.TYPE_INT32, FieldProto.TYPE_FIXED64, FieldProto.TYPE_FIXED32, FieldProto.TYPE_BOOL,
    FieldProto.TYPE_STRING, FieldProto.TYPE_BYTES, FieldProto.TYPE_UINT32,
    FieldProto.TYPE_SFIXED32, FieldProto.TYPE_SFIXED64, FieldProto.TYPE_SINT32,
    FieldProto.TYPE_SINT64,
})


@dataclass(frozen=True, slots=True)
class EventLayout:
    """The fields of one event kind: its name and the fields' (name, proto attribute)."""

    field_id: int  # the FtraceEvent field number
    name: str  # tracefs event name
    group: str
    fields: tuple[str, ...]  # field names as the kernel's format file spells them
    attributes: tuple[str, ...]  # the same fields as attributes of the generated class
    repeated: frozenset[str] = frozenset()  # fields that are repeated in the typed proto


def _typed_layout(name: str) -> EventLayout:
    field = pb.FtraceEvent.DESCRIPTOR.fields_by_name[name]
    scalars = [f for f in field.message_type.fields if f.type in _SCALAR_TYPES]
    names = tuple(f.name for f in scalars)
    return EventLayout(field.number, name, "", names, names,
                       frozenset(f.name for f in scalars if f.is_repeated))


TYPED_LAYOUTS: dict[int, EventLayout] = {
    layout.field_id: layout for layout in map(_typed_layout, BULK_TYPED_EVENTS)
}


def dense_layout(field_id: int, group: str, descriptor_bytes: bytes) -> tuple[EventLayout, Any]:
    """Validate a generic-event descriptor: its layout and a clean DescriptorProto of it.

    Raises ValueError when the descriptor is not one Perfetto would write.
    """
    if not DENSE_FIRST_FIELD_ID <= field_id <= MAX_FIELD_NUMBER:
        raise ValueError(f"field id {field_id} is outside {DENSE_FIRST_FIELD_ID}..{MAX_FIELD_NUMBER}")
    source = descriptor_pb2.DescriptorProto.FromString(descriptor_bytes)
    if not isinstance(source.name, str) or not source.name or len(source.field) > DENSE_MAX_FIELDS:
        raise ValueError("no event name, or too many fields")
    clean = descriptor_pb2.DescriptorProto(name=f"Generic{field_id}")
    names: list[str] = []
    attributes: list[str] = []
    for field in sorted(source.field, key=lambda f: f.number):
        if not isinstance(field.name, str):  # upb hands out invalid UTF-8 as bytes
            raise ValueError(f"field {field.number} has a name that is not UTF-8")
        if field.type not in _SCALAR_TYPES or not 0 < field.number <= DENSE_MAX_FIELDS:
            raise ValueError(f"field {field.name!r} has type {field.type}/number {field.number}")
        attribute = field.name
        if not attribute.isidentifier() or keyword.iskeyword(attribute) or attribute in attributes:
            attribute = f"field_{field.number}"
        names.append(field.name)
        attributes.append(attribute)
        clean.field.add(name=attribute, number=field.number, type=field.type,
                        label=FieldProto.LABEL_OPTIONAL)
    layout = EventLayout(field_id, source.name, group, tuple(names), tuple(attributes))
    return layout, clean


class _ViewFile:
    """A run-time .proto file of bundle views, in its own package of one DescriptorPool."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, base_file: str, version: int):
        self.pool = pool
        self.package = f"faulttui.perfetto.v{version}"
        self.file = descriptor_pb2.FileDescriptorProto(
            name=f"faulttui/perfetto_views_v{version}.proto", package=self.package,
            dependency=[base_file], syntax="proto2",
        )

    def message(self, name: str) -> Any:
        return self.file.message_type.add(name=name)

    def repeated(self, message: Any, name: str, number: int, field_type: int) -> None:
        message.field.add(name=name, number=number, type=field_type,
                          label=FieldProto.LABEL_REPEATED)

    def embed(self, message: Any, name: str, number: int, type_name: str,
              label: int = FieldProto.LABEL_OPTIONAL, oneof_index: int | None = None) -> None:
        field = message.field.add(name=name, number=number, type=FieldProto.TYPE_MESSAGE,
                                  type_name=f".{self.package}.{type_name}", label=label)
        if oneof_index is not None:
            field.oneof_index = oneof_index

    def bundle(self, name: str, event_type: str, repeated: bool) -> None:
        """A copy of FtraceEventBundle whose `event` field (2) has the given type."""
        bundle = self.file.message_type.add()
        pb.FtraceEventBundle.DESCRIPTOR.CopyToProto(bundle)
        bundle.name = name
        del bundle.nested_type[:]
        del bundle.enum_type[:]
        for field in bundle.field:
            if field.name == "event":
                field.type_name = f".{self.package}.{event_type}"
                field.label = FieldProto.LABEL_REPEATED if repeated else FieldProto.LABEL_OPTIONAL

    def build(self, *names: str) -> list[Any]:
        """Add the file to the pool; the generated classes of the named messages."""
        self.pool.Add(self.file)
        return [message_factory.GetMessageClass(
            self.pool.FindMessageTypeByName(f"{self.package}.{name}")) for name in names]


class ReadViews:
    """`head` (timestamps, descriptors, flags) and `event_bytes`: independent of descriptors."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, base_file: str) -> None:
        views = _ViewFile(pool, base_file, 0)
        views.repeated(views.message("EventTimes"), "timestamp", 1, FieldProto.TYPE_UINT64)
        views.bundle("BundleHead", "EventTimes", repeated=False)
        views.repeated(views.message("BundleEventBytes"), "event", 2, FieldProto.TYPE_BYTES)
        self.head, self.event_bytes = views.build("BundleHead", "BundleEventBytes")


class DecodeViews:
    """`columns` (the merged per-kind columns) and `full` (one message per event)."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, base_file: str, version: int,
                 dense: list[tuple[EventLayout, Any]]) -> None:
        views = _ViewFile(pool, base_file, version)
        self._add_columns(views, dense)
        self._add_full(views, dense)
        self.columns, self.full = views.build("BundleColumns", "BundleFull")

    @staticmethod
    def _add_columns(views: _ViewFile, dense: list[tuple[EventLayout, Any]]) -> None:
        columns = views.message("EventColumns")
        views.repeated(columns, "timestamp", 1, FieldProto.TYPE_UINT64)
        views.repeated(columns, "pid", 2, FieldProto.TYPE_INT32)
        kinds: list[tuple[int, Any]] = []
        for layout in TYPED_LAYOUTS.values():
            message = descriptor_pb2.DescriptorProto()
            pb.FtraceEvent.DESCRIPTOR.fields_by_name[layout.name].message_type.CopyToProto(message)
            kinds.append((layout.field_id, message))
        kinds.extend((layout.field_id, clean) for layout, clean in dense)
        for field_id, message in kinds:
            column_type = views.message(f"Columns{field_id}")
            for field in message.field:
                if field.type in _SCALAR_TYPES:
                    views.repeated(column_type, field.name, field.number, field.type)
            views.embed(columns, f"k{field_id}", field_id, f"Columns{field_id}")
        # GenericFtraceEvent (field 327): event names, field names, and values by type
        values = views.message("LegacyFieldColumns")
        for field in pb.GenericFtraceEvent.Field.DESCRIPTOR.fields:
            views.repeated(values, field.name, field.number, field.type)
        legacy = views.message("LegacyColumns")
        views.repeated(legacy, "event_name", 1, FieldProto.TYPE_STRING)
        views.embed(legacy, "field", 2, "LegacyFieldColumns")
        views.embed(columns, f"k{LEGACY_GENERIC_FIELD_ID}", LEGACY_GENERIC_FIELD_ID,
                    "LegacyColumns")
        views.bundle("BundleColumns", "EventColumns", repeated=False)

    @staticmethod
    def _add_full(views: _ViewFile, dense: list[tuple[EventLayout, Any]]) -> None:
        event = views.file.message_type.add()
        pb.FtraceEvent.DESCRIPTOR.CopyToProto(event)
        event.name = "FtraceEventFull"
        del event.reserved_range[:]
        oneof_index = [o.name for o in event.oneof_decl].index("event")
        for layout, clean in dense:
            views.file.message_type.add().CopyFrom(clean)
            views.embed(event, f"k{layout.field_id}", layout.field_id, clean.name,
                        oneof_index=oneof_index)
        views.bundle("BundleFull", "FtraceEventFull", repeated=True)


class SchemaError(ValueError):
    """The trace's generic-event descriptors cannot be turned into protobuf classes."""


class TraceSchema:
    """The dense descriptors seen so far in one trace, and the views that decode them.

    `head` and `event_bytes` do not depend on the descriptors; the decoding views are
    rebuilt (once, lazily) after new descriptors arrive.
    """

    def __init__(self) -> None:
        base = descriptor_pb2.FileDescriptorProto()
        pb.DESCRIPTOR.CopyToProto(base)
        self._pool = descriptor_pool.DescriptorPool()
        self._pool.Add(base)
        self._base_file = base.name
        self.dense: dict[int, tuple[EventLayout, Any]] = {}
        read_views = ReadViews(self._pool, self._base_file)
        self.head = read_views.head
        self.event_bytes = read_views.event_bytes
        self._version = 0
        self._views: DecodeViews | None = None
        self._stale = True

    @property
    def views(self) -> DecodeViews:
        if self._stale or self._views is None:
            self._version += 1
            try:
                self._views = DecodeViews(self._pool, self._base_file, self._version,
                                          list(self.dense.values()))
            except (TypeError, ValueError) as error:
                raise SchemaError(f"generic event descriptors are unusable: {error}") from None
            self._stale = False
        return self._views

    def add_descriptors(self, descriptors: list[tuple[int, str, bytes]]) -> list[str]:
        """Register (field id, group, DescriptorProto bytes); return problems as warnings."""
        problems: list[str] = []
        for field_id, group, descriptor_bytes in descriptors:
            if field_id in self.dense:
                continue
            try:
                self.dense[field_id] = dense_layout(field_id, group, descriptor_bytes)
                self._stale = True
            except DecodeError:
                problems.append(f"generic event descriptor {field_id} does not parse")
            except (ValueError, TypeError) as error:
                problems.append(f"generic event descriptor {field_id} ignored: {error}")
        return problems

    def layout(self, field_id: int) -> EventLayout | None:
        typed = TYPED_LAYOUTS.get(field_id)
        if typed is not None:
            return typed
        dense = self.dense.get(field_id)
        return dense[0] if dense is not None else None
