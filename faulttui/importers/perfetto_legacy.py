"""Legacy generic events (`FtraceEvent.generic`, field 327) of a bundle, decoded in bulk.

Before Perfetto v53, every untyped tracepoint (`mmap_lock_*`, `page_fault_user`, ...) was
written as `GenericFtraceEvent { event_name; repeated Field { name; oneof value { str_value;
int_value; uint_value } } }`, names repeated in every event. Through the merged-columns view
(perfetto_schema.py) a bundle's generic events arrive as flat lists: the event names, all
field names, and the values of each type. Since one tracepoint always has the same fields of
the same types (its tracefs `format` file), a layout learnt from one event of each name
cuts the flat lists back into per-event values, which are then grouped by tracepoint into
the columns the field decoders take. Anything that does not line up returns None, and the
caller decodes those events one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate, chain, repeat
from operator import add, itemgetter
from typing import Any

VALUE_KINDS = ("str_value", "int_value", "uint_value")


@dataclass(frozen=True, slots=True)
class LegacyLayout:
    """The fields of one tracepoint as the legacy encoding writes them."""

    names: tuple[str, ...]
    kinds: tuple[int, ...]  # index into VALUE_KINDS, per field
    widths: tuple[int, ...]  # how many fields of each VALUE_KINDS kind


def learn_layout(generic: Any) -> tuple[str, LegacyLayout] | None:
    """The event name and layout of one parsed GenericFtraceEvent (None if a value is unset)."""
    names: list[str] = []
    kinds: list[int] = []
    for entry in generic.field:
        which = entry.WhichOneof("value")
        if which is None or not isinstance(entry.name, str):
            return None
        names.append(entry.name)
        kinds.append(VALUE_KINDS.index(which))
    if not isinstance(generic.event_name, str):
        return None
    widths = tuple(kinds.count(kind) for kind in range(len(VALUE_KINDS)))
    return generic.event_name, LegacyLayout(tuple(names), tuple(kinds), widths)


def _starts(widths: Iterable[int]) -> list[int]:
    """Where each event's slice of a flat list starts, given the slices' widths."""
    return [0, *accumulate(widths)]


def split_by_tracepoint(columns: Any, count: int, layouts: dict[str, LegacyLayout]
                        ) -> dict[str, tuple[list[int], dict[str, list[Any]]]] | None:
    """Per tracepoint name: the positions (among the bundle's generic events) of its events,
    and their values as columns by field name. None when the flat lists do not line up with
    the layouts (a tracepoint without a layout yet, a missing or retyped field)."""
    event_names = list(columns.event_name)
    if len(event_names) != count or not layouts.keys() >= set(event_names):
        return None
    flat = columns.field
    field_names = list(flat.name)
    by_layout = list(map(layouts.__getitem__, event_names))
    expected_names = list(chain.from_iterable(layout.names for layout in by_layout))
    if field_names != expected_names:
        return None
    values = [list(getattr(flat, kind)) for kind in VALUE_KINDS]
    starts: list[list[int]] = []
    widths = [layout.widths for layout in by_layout]
    for kind, kind_values in enumerate(values):
        kind_starts = _starts(map(itemgetter(kind), widths))
        if kind_starts[-1] != len(kind_values):
            return None
        starts.append(kind_starts)
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(event_names):
        positions.setdefault(name, []).append(position)
    result: dict[str, tuple[list[int], dict[str, list[Any]]]] = {}
    for name, events in positions.items():
        layout = layouts[name]
        event_starts = {kind: [starts[kind][e] for e in events] for kind in set(layout.kinds)}
        event_columns: dict[str, list[Any]] = {}
        seen_of_kind = [0, 0, 0]
        for field_name, kind in zip(layout.names, layout.kinds, strict=True):
            offset = seen_of_kind[kind]
            seen_of_kind[kind] += 1
            event_columns[field_name] = list(map(
                values[kind].__getitem__,
                map(add, event_starts[kind], repeat(offset, len(events))),
            ))
        result[name] = (events, event_columns)
    return result
