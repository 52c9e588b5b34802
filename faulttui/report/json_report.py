"""The diff report as JSON: the DESIGN.md "Metrics in JSON" document plus the report's tables.

The top-level keys `schema_version`, `faulttui_version`, `trace`, `params` and `timelines`
(METRICS per timeline, from `Metrics.to_json()`) are the shared contract of `replay --json`
and `diff --format json`. The keys after them carry every number of the other formats'
tables: `baseline`, `columns`, `headline`, `tables`, `threads` and `gates`. Keys are only ever
added, never renamed; relative changes are fractions (0.25 = +25%), rounded to 6 digits, and
null when the baseline is 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from faulttui.model.metrics import Metrics
from faulttui.report.gates import GateResult
from faulttui.report.model import Delta, DiffReport, MetricRow, Table, ThreadChange

SCHEMA_VERSION = 1
REPORT_KIND = "faulttui-diff"


def report_json(report: DiffReport, metrics: Mapping[str, Metrics]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "faulttui_version": report.version,
        "trace": report.trace,
        "params": dict(report.params),
        "timelines": {name: metrics[name].to_json() for name in report.columns},
        "report": REPORT_KIND,
        "baseline": report.baseline,
        "columns": list(report.columns),
        "compared": list(report.compared),
        "rerun": report.rerun,
        "headline": [
            {"policy": item.policy, "metric": item.path, "unit": str(item.unit),
             "baseline_value": item.baseline_value, "value": item.value,
             "delta": _delta(item.delta), "text": item.sentence}
            for item in report.headline
        ],
        "tables": {
            table.key: _table(table, report)
            for table in (
                report.summary,
                *(part for dist in report.distributions
                  for part in (dist.percentiles, dist.buckets)),
                report.writers,
            )
        },
        "threads": {
            ranking.policy: {
                "compared": ranking.compared,
                "improved": [_thread(change) for change in ranking.improved],
                "regressed": [_thread(change) for change in ranking.regressed],
            }
            for ranking in report.threads
        },
        "gates": {
            "checked": len(report.gates),
            "violated": len(report.violated_gates),
            "results": [_gate(result) for result in report.gates],
        },
    }


def render_json(report: DiffReport, metrics: Mapping[str, Metrics]) -> str:
    return orjson.dumps(report_json(report, metrics), option=orjson.OPT_INDENT_2).decode() + "\n"


def _delta(delta: Delta) -> dict[str, Any]:
    return {"absolute": delta.absolute, "relative": _fraction(delta.relative)}


def _fraction(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _table(table: Table, report: DiffReport) -> dict[str, Any]:
    return {"title": table.title, "rows": [_row(row, report) for row in table.rows]}


def _row(row: MetricRow, report: DiffReport) -> dict[str, Any]:
    return {
        "metric": row.path,
        "label": row.label,
        "unit": str(row.unit),
        "values": dict(zip(report.columns, row.values, strict=True)),
        "delta": {name: _delta(delta)
                  for name, delta in zip(report.columns, row.deltas, strict=True)
                  if delta is not None},
    }


def _thread(change: ThreadChange) -> dict[str, Any]:
    return {
        "tid": change.tid, "comm": change.comm,
        "faults": {"baseline": change.baseline_faults, "policy": change.faults},
        "fault_time_ns": {"baseline": change.baseline_fault_time_ns,
                          "policy": change.fault_time_ns},
        "fault_latency_p99_ns": {"baseline": change.baseline_p99_ns, "policy": change.p99_ns},
        "mmap_lock_wait_ns": {"baseline": change.baseline_mmap_lock_wait_ns,
                              "policy": change.mmap_lock_wait_ns},
        "delta": _delta(change.delta),
    }


def _gate(result: GateResult) -> dict[str, Any]:
    gate = result.gate
    return {
        "gate": gate.text, "metric": gate.metric.dotted, "comparison": str(gate.comparison),
        "threshold": gate.threshold, "relative": gate.relative, "policy": result.policy,
        "baseline": result.baseline, "value": result.value,
        "baseline_value": result.baseline_value, "change": _fraction(result.relative),
        "violated": result.violated,
    }
