"""Golden files for `faulttui diff` text, markdown and JSON, from hand-made metrics.

Regenerate after an intended change with `FAULTTUI_UPDATE_GOLDEN=1 python -m pytest
tests/test_diff_golden.py` and review the diff of tests/golden/ like code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from test_report_fixtures import HOSTILE_COMM, sample_input

from faulttui.report.gates import evaluate, parse_gates
from faulttui.report.json_report import render_json
from faulttui.report.markdown import render_markdown
from faulttui.report.model import DiffReport, ReportInput, build_report
from faulttui.report.text import WIDTH, render_text

GOLDEN = Path(__file__).parent / "golden"
GATES = ("fault_latency.p99>+10%", "mmap_lock.acquisitions.read>0", "writers.latency.max>1ms")


def _report(source: ReportInput) -> DiffReport:
    gates = parse_gates(GATES)
    metrics_json = {name: metrics.to_json() for name, metrics in source.metrics.items()}
    results = evaluate(gates, metrics_json, source.baseline, source.policies)
    return build_report(ReportInput(**{**{f: getattr(source, f) for f in source.__slots__},
                                       "gates": results}))


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FAULTTUI_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with FAULTTUI_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8")


def test_text_matches_golden() -> None:
    _check("diff.txt", render_text(_report(sample_input())))


def test_markdown_matches_golden() -> None:
    _check("diff.md", render_markdown(_report(sample_input())))


def test_json_matches_golden() -> None:
    source = sample_input()
    _check("diff.json", render_json(_report(source), source.metrics))


@pytest.mark.parametrize("policies", [
    ("retry-vma",),
    ("retry-vma", "hold-vma"),
    ("retry-vma", "hold-vma", "stock", "recording"),
])
def test_text_fits_100_columns(policies: tuple[str, ...]) -> None:
    metrics = sample_input().metrics
    many = {**metrics, **{f"policy-with-a-long-name-{i}": metrics["hold-vma"] for i in range(5)}}
    source = sample_input(metrics=many,
                          policies=(*policies, *(f"policy-with-a-long-name-{i}" for i in range(5))))
    text = render_text(_report(source))
    too_long = [line for line in text.splitlines() if len(line) > WIDTH]
    assert too_long == []


def test_text_shows_every_policy_even_when_split() -> None:
    metrics = sample_input().metrics
    names = tuple(f"policy-{i}" for i in range(6))
    source = sample_input(metrics={**metrics, **dict.fromkeys(names, metrics["retry-vma"])},
                          policies=names)
    text = render_text(build_report(source))
    metric_header_lines = [line for line in text.splitlines() if line.startswith("metric ")]
    for name in names:
        assert any(name in line for line in metric_header_lines)


def test_json_has_the_metrics_contract_and_every_table_number() -> None:
    source = sample_input()
    document = json.loads(render_json(_report(source), source.metrics))
    assert document["schema_version"] == 1
    assert set(document["timelines"]) == {"recording", "stock", "retry-vma", "hold-vma"}
    assert document["timelines"]["stock"] == source.metrics["stock"].to_json()
    assert document["params"] == {"seed": 0, "memory_limit": None, "io_latency_scale": 1.0}
    summary = {row["metric"]: row for row in document["tables"]["summary"]["rows"]}
    p99 = summary["fault_latency_ns.p99"]
    assert p99["values"]["retry-vma"] == source.metrics["retry-vma"].fault_latency.p99
    assert set(p99["delta"]) == {"retry-vma", "hold-vma"}
    assert p99["delta"]["retry-vma"]["relative"] < 0
    buckets = document["tables"]["fault_latency_ns.buckets"]["rows"]
    assert [row["values"]["stock"] for row in buckets] == list(
        source.metrics["stock"].fault_latency.buckets)
    assert document["gates"]["checked"] == len(GATES) * 2
    comms = [thread["comm"] for ranking in document["threads"].values()
             for side in ("improved", "regressed") for thread in ranking[side]]
    assert HOSTILE_COMM in comms


def test_markdown_never_lets_trace_text_become_markup() -> None:
    markdown = render_markdown(_report(sample_input()))
    assert "<img" not in markdown.replace("`<img src=x>`", "")
    assert "`<img src=x>`" in markdown
    assert "`` a\\|b_c*`d` ``" in markdown  # a code cell, its pipe escaped for the table
    for line in markdown.splitlines():
        if line.startswith("|"):
            assert line.endswith("|")


def test_text_fits_100_columns_with_long_names_from_the_trace() -> None:
    metrics = sample_input().metrics
    long_comm = "a-thread-name-far-longer-than-any-kernel-comm"
    renamed = {
        name: type(value)(**{
            **{field: getattr(value, field) for field in value.__slots__},
            "threads": tuple(type(thread)(thread.tid, long_comm, thread.faults,
                                          thread.fault_latency, thread.mmap_lock_wait_ns)
                             for thread in value.threads),
        })
        for name, value in metrics.items()
    }
    source = sample_input(metrics=renamed, trace="/very/long/" + "directory/" * 20 + "t.txt.xz")
    text = render_text(_report(source))
    assert [line for line in text.splitlines() if len(line) > WIDTH] == []
    assert "a-thread-name-f~" in text
