"""Which field decoder an event kind gets, built once per kind for one import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faulttui.importers.events import FIELD_TYPES, ImportStats
from faulttui.importers.perfetto_fields import (
    SPECS,
    Columns,
    Convert,
    DecodeContext,
    Decoded,
    EventDecoder,
    guarded,
    raw_decoder,
    spec_decoder,
)
from faulttui.importers.perfetto_schema import EventLayout
from faulttui.importers.perfetto_syscalls import raw_syscall_decoder, syscall_decoder


class DecoderCache:
    """The decoder of each event kind (a field id, or a legacy tracepoint's name + fields)."""

    def __init__(self, context: DecodeContext, stats: ImportStats) -> None:
        self.context = context
        self.stats = stats
        self.converters: dict[str, Convert] = context.converters()
        self._decoders: dict[Any, EventDecoder] = {}

    def get(self, key: Any, layout: EventLayout) -> EventDecoder:
        found = self._decoders.get(key)
        if found is None:
            decoder, status = decoder_for(layout, self.context, self.converters)
            if status == "unknown":
                decoder = _counting(decoder, self.stats)
            elif status == "malformed":
                self.stats.warn(
                    f"{self.stats.path}: {layout.name}: the trace's fields "
                    f"({', '.join(layout.fields)}) lack ones faulttui needs; kept as raw text"
                )
            found = self._decoders[key] = decoder
        return found


def _counting(decoder: EventDecoder, stats: ImportStats) -> EventDecoder:
    """Wrap a raw decoder so its events count as unknown."""
    def decode(columns: Columns, count: int) -> Decoded | None:
        decoded = decoder(columns, count)
        if decoded is not None:
            stats.unknown_events += count
        return decoded

    return decode


def decoder_for(layout: EventLayout, context: DecodeContext,
                converters: Mapping[str, Convert]) -> tuple[EventDecoder, str]:
    """The decoder of an event kind, and what it yields: "typed" fields, "unknown" events
    (kept raw, counted as unknown), or "malformed" ones (a modelled event whose layout lacks
    a field faulttui needs; kept raw with `malformed: True`, like the text importer does)."""
    if layout.name in ("sys_enter", "sys_exit") and "id" in layout.fields:
        return guarded(raw_syscall_decoder(layout, context.arch)), "typed"
    if layout.name.startswith(("sys_enter_", "sys_exit_")) and layout.name in FIELD_TYPES:
        return guarded(syscall_decoder(layout)), "typed"
    spec = SPECS.get(layout.name)
    if spec is not None:
        decoder = spec_decoder(layout.name, spec, layout.fields, converters)
        if decoder is not None:
            return guarded(decoder), "typed"
        return raw_decoder(layout, malformed=True), "malformed"
    return raw_decoder(layout), "unknown"
