"""`--fail-on` gates: parsing (table-driven) and evaluation against a baseline."""

from __future__ import annotations

import math

import pytest
from test_report_fixtures import sample_metrics

from faulttui.errors import UsageError
from faulttui.report.gates import Comparison, evaluate, parse_gate, parse_gates
from faulttui.report.units import Unit

VALID = [
    # expression, canonical metric, comparison, threshold, relative
    ("fault_latency.p99>+10%", "fault_latency_ns.p99", ">", 0.10, True),
    ("fault_latency_ns.p99 > +10%", "fault_latency_ns.p99", ">", 0.10, True),
    ("  faults.retries.mmap>=-50%  ", "faults.retries.mmap", ">=", -0.50, True),
    ("mmap_lock.acquisitions.read>0", "mmap_lock.acquisitions.read", ">", 0, False),
    ("mmap_lock.wait_ns.read.total<=5ms", "mmap_lock.wait_ns.read.total", "<=", 5e6, False),
    ("mmap_lock.wait.read.total>2.5us", "mmap_lock.wait_ns.read.total", ">", 2500, False),
    ("writers.latency_ns.max>1s", "writers.latency_ns.max", ">", 1e9, False),
    ("writers.latency.max!=0", "writers.latency_ns.max", "!=", 0, False),
    ("writers.by_op.mprotect.p99>100us", "writers.by_op.mprotect.p99", ">", 1e5, False),
    ("fault_latency.buckets.[100ms,inf)>0", "fault_latency_ns.buckets.[100ms,inf)", ">", 0,
     False),
    ("makespan<+0.5%", "makespan_ns", "<", 0.005, True),
    ("priority_inversion_ns==0", "priority_inversion_ns", "==", 0, False),
    ("io.wait.p50>300ns", "io.wait_ns.p50", ">", 300, False),
    ("mmap_lock.trylock_failed>=10", "mmap_lock.trylock_failed", ">=", 10, False),
]

INVALID = [
    # expression, a phrase the one-line reason must contain
    ("", "expected METRIC OP VALUE"),
    ("fault_latency.p99", "expected METRIC OP VALUE"),
    ("fault_latency.p99>", "no value"),
    ("fault_latency.p99>+x", "is not a number"),
    ("fault_latency.p99>10%", "needs a sign"),
    ("fault_latency.p99>5 parsecs", "is not a number"),
    ("fault_latency.p99>5kb", "unknown unit"),
    ("faults.total>5ms", "is a count, not a duration"),
    ("fault_latency.buckets.[0,1us)>1us", "is a count"),
    ("fault_latency>0", "is a group"),
    ("fault_latency.p42>0", "no 'p42'"),
    ("nonsense.total>0", "no 'nonsense'"),
    ("faults..total>0", "empty key"),
    ("threads.tid>0", "per thread"),
    ("faults.total.more>0", "already a number"),
    ("writers.by_op>0", "needs an operation"),
    ("fault_latency.p99=>1", "expected METRIC OP VALUE"),
    ("fault_latency.p99>>1", "is not a number"),
    ("fault_latency.p99=1", "expected METRIC OP VALUE"),
]


@pytest.mark.parametrize(("text", "metric", "op", "threshold", "relative"), VALID)
def test_parse_valid(text: str, metric: str, op: str, threshold: float, relative: bool) -> None:
    gate = parse_gate(text)
    assert gate.metric.dotted == metric
    assert gate.comparison is Comparison(op)
    assert math.isclose(gate.threshold, threshold, abs_tol=1e-12)
    assert gate.relative is relative
    assert gate.text == text.strip()


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_parse_invalid_says_why(text: str, reason: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_gate(text)
    message = str(raised.value)
    assert reason in message
    assert "\n" not in message
    assert message.startswith("malformed --fail-on") or "METRIC OP VALUE" in message


@pytest.mark.parametrize(("path", "unit"), [
    ("fault_latency.p99", Unit.NS), ("fault_latency.count", Unit.COUNT),
    ("fault_latency.buckets.[1ms,10ms)", Unit.COUNT), ("faults.retries.mmap", Unit.COUNT),
    ("writers.by_op.mmap.max", Unit.NS), ("writers.by_op.mmap.count", Unit.COUNT),
    ("makespan", Unit.NS), ("mmap_lock.acquisitions.write", Unit.COUNT),
])
def test_metric_units(path: str, unit: Unit) -> None:
    assert parse_gate(f"{path}>0").metric.unit is unit


def _results(*texts: str, baseline: str = "stock",
             policies: tuple[str, ...] = ("retry-vma", "hold-vma")) -> dict[tuple[str, str], bool]:
    metrics_json = {name: metrics.to_json() for name, metrics in sample_metrics().items()}
    return {(result.gate.text, result.policy): result.violated
            for result in evaluate(parse_gates(texts), metrics_json, baseline, policies)}


EVALUATION = [
    # gate, {policy: violated}
    ("fault_latency.p99>+10%", {"retry-vma": False, "hold-vma": False}),
    ("fault_latency.p99<-25%", {"retry-vma": True, "hold-vma": False}),
    ("mmap_lock.acquisitions.read>0", {"retry-vma": True, "hold-vma": False}),
    ("writers.latency.max>+100%", {"retry-vma": False, "hold-vma": True}),
    ("writers.latency.max>1ms", {"retry-vma": False, "hold-vma": True}),
    ("faults.retries.vma>+0%", {"retry-vma": True, "hold-vma": False}),  # baseline 0: any rise
    ("faults.retries.vma>=+0%", {"retry-vma": True, "hold-vma": True}),  # 0 vs 0 is +0%
    ("faults.total==400", {"retry-vma": True, "hold-vma": True}),
    ("writers.by_op.munmap.max>0", {"retry-vma": False, "hold-vma": False}),  # op never seen
]


@pytest.mark.parametrize(("text", "expected"), EVALUATION)
def test_evaluate(text: str, expected: dict[str, bool]) -> None:
    results = _results(text)
    assert {policy: results[(text, policy)] for policy in expected} == expected


def test_describe_names_gate_policy_and_figures() -> None:
    metrics_json = {name: metrics.to_json() for name, metrics in sample_metrics().items()}
    (result,) = evaluate(parse_gates(["writers.latency.max>1ms"]), metrics_json, "stock",
                         ["hold-vma"])
    assert result.describe() == (
        "writers.latency.max>1ms for hold-vma: 2.40 ms vs stock 400 us (+500%)")


def test_gates_against_the_recording() -> None:
    results = _results("fault_latency.p99>+1%", baseline="recording", policies=("stock",))
    assert results[("fault_latency.p99>+1%", "stock")] is True
