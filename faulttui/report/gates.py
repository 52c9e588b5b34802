"""`--fail-on EXPR` gates: parse an expression, evaluate it for each policy against the baseline.

Grammar (whitespace between the parts is allowed)::

    GATE  := METRIC OP VALUE
    OP    := '>' | '>=' | '<' | '<=' | '==' | '!='
    VALUE := ('+' | '-') NUMBER '%'    relative change of the policy vs the baseline
           | NUMBER [UNIT]             absolute threshold; UNIT is ns, us, ms or s, for durations

METRIC is a dotted path into the METRICS JSON (see `faulttui.report.metric_paths`). A gate is
*violated* when its comparison holds: `fault_latency.p99>+10%` fails a policy whose p99 fault
latency is more than 10% above the baseline's; `mmap_lock.acquisitions.read>0` fails a policy
that takes mmap_lock for reading at all. A relative gate against a baseline of 0 treats any
increase as an infinite one (and no change as 0%).
"""

from __future__ import annotations

import enum
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faulttui.errors import UsageError
from faulttui.report.metric_paths import MetricPath, metrics_schema, resolve
from faulttui.report.units import Unit, format_relative, format_value, relative_change


class Comparison(enum.StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="

    def holds(self, left: float, right: float) -> bool:
        return _OPERATORS[self](left, right)


_OPERATORS: Mapping[Comparison, Callable[[float, float], bool]] = {
    Comparison.GT: operator.gt, Comparison.GE: operator.ge, Comparison.LT: operator.lt,
    Comparison.LE: operator.le, Comparison.EQ: operator.eq, Comparison.NE: operator.ne,
}

_DURATION_UNITS_NS: Mapping[str, int] = {"ns": 1, "us": 1_000, "ms": 1_000_000,
                                         "s": 1_000_000_000}

_GATE = re.compile(r"^\s*(?P<metric>[^<>=!\s]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>.*?)\s*$")
_RELATIVE = re.compile(r"^(?P<sign>[+-])(?P<number>\d+(?:\.\d+)?)%$")
_ABSOLUTE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<unit>[a-z]*)$")


@dataclass(frozen=True, slots=True)
class Gate:
    """A parsed gate: `threshold` is a fraction when `relative` (+10% -> 0.1), else a number."""

    text: str
    metric: MetricPath
    comparison: Comparison
    threshold: float
    relative: bool

    def describe_threshold(self) -> str:
        if self.relative:
            return f"{self.threshold * 100:+g}%"
        return format_value(int(self.threshold), self.metric.unit)


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: Gate
    policy: str
    baseline: str
    value: int
    baseline_value: int
    relative: float | None  # change vs the baseline; None when the baseline is 0 and value > 0

    @property
    def violated(self) -> bool:
        gate = self.gate
        if not gate.relative:
            return gate.comparison.holds(self.value, gate.threshold)
        change = math.inf if self.relative is None else self.relative
        return gate.comparison.holds(change, gate.threshold)

    def describe(self) -> str:
        """One line: the gate, the policy and the figures that decided it."""
        unit = self.gate.metric.unit
        return (f"{self.gate.text} for {self.policy}: {format_value(self.value, unit)} vs "
                f"{self.baseline} {format_value(self.baseline_value, unit)} "
                f"({format_relative(self.relative) if self.value != self.baseline_value else '0%'})")


def parse_gate(text: str, schema: Mapping[str, Any] | None = None) -> Gate:
    """Parse one `--fail-on` expression; UsageError names what is malformed."""
    match = _GATE.match(text)
    if match is None:
        raise UsageError(
            f"malformed --fail-on {text!r}: expected METRIC OP VALUE, e.g. "
            "'fault_latency.p99>+10%' or 'mmap_lock.acquisitions.read>0'")
    metric_text, op_text, value_text = match.group("metric", "op", "value")
    try:
        metric = resolve(metric_text, schema)
    except UsageError as error:
        raise UsageError(f"malformed --fail-on {text!r}: {error.message}") from None
    comparison = Comparison(op_text)
    if not value_text:
        raise UsageError(f"malformed --fail-on {text!r}: no value after {op_text!r}")
    relative = _RELATIVE.match(value_text)
    if relative is not None:
        fraction = float(relative.group("number")) / 100
        threshold = -fraction if relative.group("sign") == "-" else fraction
        return Gate(text.strip(), metric, comparison, threshold, relative=True)
    if value_text.endswith("%"):
        raise UsageError(f"malformed --fail-on {text!r}: a relative threshold needs a sign "
                         f"(+{value_text} or -{value_text})")
    absolute = _ABSOLUTE.match(value_text)
    if absolute is None:
        raise UsageError(f"malformed --fail-on {text!r}: {value_text!r} is not a number, "
                         "a duration (5ms) or a relative change (+10%)")
    number = float(absolute.group("number"))
    unit = absolute.group("unit")
    if unit:
        if unit not in _DURATION_UNITS_NS:
            raise UsageError(f"malformed --fail-on {text!r}: unknown unit {unit!r} "
                             f"(one of: {', '.join(_DURATION_UNITS_NS)})")
        if metric.unit is not Unit.NS:
            raise UsageError(f"malformed --fail-on {text!r}: {metric.dotted} is a count, "
                             f"not a duration; drop the {unit!r}")
        number *= _DURATION_UNITS_NS[unit]
    return Gate(text.strip(), metric, comparison, number, relative=False)


def parse_gates(texts: Sequence[str]) -> tuple[Gate, ...]:
    schema = metrics_schema()
    return tuple(parse_gate(text, schema) for text in texts)


def evaluate(gates: Sequence[Gate], metrics_json_by_timeline: Mapping[str, Mapping[str, Any]],
             baseline: str, policies: Sequence[str]) -> tuple[GateResult, ...]:
    """Every gate for every policy, in gate order then policy order."""
    base_json = metrics_json_by_timeline[baseline]
    results = []
    for gate in gates:
        base_value = gate.metric.value_in(base_json)
        for policy in policies:
            value = gate.metric.value_in(metrics_json_by_timeline[policy])
            results.append(GateResult(gate, policy, baseline, value, base_value,
                                      relative_change(value, base_value)))
    return tuple(results)
