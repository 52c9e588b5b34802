"""Dotted paths into the METRICS JSON (DESIGN.md "Metrics in JSON"): how tables and gates name
a metric.

A path is the chain of keys down to one number, e.g. `faults.retries.mmap`,
`fault_latency_ns.p99`, `mmap_lock.wait_ns.read.total`, `writers.by_op.mmap.max` or
`fault_latency_ns.buckets.[100ms,inf)`. A key written without its `_ns` suffix means the key
with it, so `fault_latency.p99` is `fault_latency_ns.p99` and `writers.latency.max` is
`writers.latency_ns.max`. Values are read from `Metrics.to_json()`; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from faulttui.errors import UsageError
from faulttui.model.metrics import BUCKET_LABELS, Dist, compute_metrics
from faulttui.model.timeline import Timeline
from faulttui.report.units import Unit

# keys whose children are named by the data (one per writer operation seen), not by the schema
_DATA_KEYED = frozenset({"by_op"})
_NOT_ADDRESSABLE = frozenset({"threads"})


@dataclass(frozen=True, slots=True)
class MetricPath:
    """A resolved path: canonical keys (aliases expanded) and the unit of the number it names."""

    keys: tuple[str, ...]

    @staticmethod
    def of(dotted: str) -> MetricPath:
        """A path already in canonical form (no alias expansion, no schema check)."""
        return MetricPath(tuple(_split(dotted)))

    @property
    def dotted(self) -> str:
        return ".".join(self.keys)

    @property
    def unit(self) -> Unit:
        if self.keys[-1] == "count" or "buckets" in self.keys:
            return Unit.COUNT
        if any(key.endswith("_ns") for key in self.keys) or "by_op" in self.keys:
            return Unit.NS
        return Unit.COUNT

    def value_in(self, metrics_json: Mapping[str, Any]) -> int:
        """The number at this path; a writer operation absent from a timeline reads as 0."""
        node: Any = metrics_json
        for depth, key in enumerate(self.keys):
            if key not in node and depth > 0 and self.keys[depth - 1] in _DATA_KEYED:
                node = Dist.of(()).to_json()
                continue
            node = node[key]
        if not isinstance(node, int):
            raise TypeError(f"{self.dotted} names {type(node).__name__}, not a number")
        return node


def metrics_schema() -> dict[str, Any]:
    """The METRICS JSON of an empty timeline: every key a path may name, values all zero."""
    empty = Timeline(name="schema", start_ns=0, end_ns=0, threads=(), faults=(),
                     mmap_lock_holds=())
    return compute_metrics(empty).to_json()


def resolve(path: str, schema: Mapping[str, Any] | None = None) -> MetricPath:
    """Check `path` against the METRICS schema and expand aliases; UsageError says what is wrong."""
    text = path.strip()
    if not text:
        raise UsageError("empty metric name")
    parts = _split(text)
    node: Any = metrics_schema() if schema is None else schema
    keys: list[str] = []
    for index, part in enumerate(parts):
        where = ".".join(keys) or "the top level"
        if keys and keys[-1] in _DATA_KEYED:
            keys.append(part)  # an operation name; any is accepted (absent ones read as 0)
            node = Dist.of(()).to_json()
            continue
        if not isinstance(node, Mapping):
            raise UsageError(f"unknown metric {text!r}: {where} is already a number")
        if part in _NOT_ADDRESSABLE and not keys:
            raise UsageError(f"unknown metric {text!r}: {part} is per thread, not one number")
        key = part if part in node else f"{part}_ns" if f"{part}_ns" in node else None
        if key is None:
            choices = ", ".join(sorted(name for name in node if name not in _NOT_ADDRESSABLE))
            raise UsageError(f"unknown metric {text!r}: no {part!r} in {where} (one of: {choices})")
        keys.append(key)
        node = node[key]
        if index == len(parts) - 1 and isinstance(node, Mapping) and key not in _DATA_KEYED:
            choices = ", ".join(node)
            raise UsageError(f"metric {text!r} is a group, not a number (add one of: {choices})")
    if keys[-1] in _DATA_KEYED:
        raise UsageError(f"metric {text!r} needs an operation and a field, e.g. {text}.mmap.p99")
    return MetricPath(tuple(keys))


def _split(text: str) -> list[str]:
    """Split on dots, keeping a bucket label such as `[0,1us)` whole."""
    for label in BUCKET_LABELS:
        if text.endswith("." + label):
            head = text[: -len(label) - 1]
            return [*_split(head), label] if head else [label]
    parts = text.split(".")
    if any(part == "" for part in parts):
        raise UsageError(f"malformed metric name {text!r} (empty key between dots)")
    return parts


def number_paths(metrics_json: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every dotted path to a number in a METRICS JSON (for help text and documentation)."""
    for key, value in metrics_json.items():
        if key in _NOT_ADDRESSABLE:
            continue
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from number_paths(value, dotted + ".")
        elif isinstance(value, int):
            yield dotted

