"""The report data model: columns, deltas, headline, thread rankings, number formatting."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_report_fixtures import HOSTILE_COMM, sample_input, sample_metrics

from faulttui.model.metrics import Dist, ThreadMetrics
from faulttui.report.metric_paths import MetricPath, metrics_schema, number_paths
from faulttui.report.model import Delta, build_report, rank_threads, report_columns
from faulttui.report.units import format_ns, format_relative


@pytest.mark.parametrize(("baseline", "policies", "columns"), [
    ("stock", ("retry-vma",), ("recording", "stock", "retry-vma")),
    ("stock", ("retry-vma", "stock"), ("recording", "stock", "retry-vma")),
    ("recording", ("stock", "hold-vma"), ("recording", "stock", "hold-vma")),
    ("hold-vma", ("retry-vma", "retry-vma"), ("recording", "hold-vma", "retry-vma")),
])
def test_columns(baseline: str, policies: tuple[str, ...], columns: tuple[str, ...]) -> None:
    assert report_columns(baseline, policies) == columns


def test_rows_carry_values_and_deltas_vs_baseline() -> None:
    report = build_report(sample_input())
    metrics = sample_metrics()
    assert report.columns == ("recording", "stock", "retry-vma", "hold-vma")
    assert report.compared == ("retry-vma", "hold-vma")
    row = next(row for row in report.summary.rows if row.path == "fault_latency_ns.p99")
    assert row.values == tuple(metrics[name].fault_latency.p99 for name in report.columns)
    assert row.deltas[:2] == (None, None)
    retry = row.deltas[2]
    assert retry is not None
    assert retry.absolute == metrics["retry-vma"].fault_latency.p99 - metrics["stock"].fault_latency.p99
    assert retry.relative == pytest.approx(retry.absolute / metrics["stock"].fault_latency.p99)


def test_every_summary_row_is_a_metrics_json_path() -> None:
    paths = set(number_paths(metrics_schema()))
    report = build_report(sample_input())
    for row in report.summary.rows:
        assert row.path in paths


def test_writer_table_covers_every_operation_seen() -> None:
    report = build_report(sample_input())
    paths = [row.path for row in report.writers.rows]
    assert "writers.by_op.mmap.p99" in paths and "writers.by_op.mprotect.max" in paths
    assert "writers.latency_ns.max" in paths


@pytest.mark.parametrize(("value", "base", "relative"), [
    (110, 100, 0.1), (50, 100, -0.5), (0, 0, 0.0), (5, 0, None), (0, 5, -1.0),
])
def test_delta(value: int, base: int, relative: float | None) -> None:
    delta = Delta.between(value, base)
    assert delta.absolute == value - base
    assert delta.relative == (pytest.approx(relative) if relative is not None else None)


def test_headline_names_improvements_and_regressions_per_policy() -> None:
    report = build_report(sample_input())
    sentences = [item.sentence for item in report.headline]
    assert sentences[0] == ("retry-vma cuts total mmap_lock read wait by 99% "
                            "(95.2 ms -> 1.04 ms) vs stock.")
    assert "hold-vma raises worst writer stall 6.0x (400 us -> 2.40 ms) vs stock." in sentences
    assert [item.policy for item in report.headline] == sorted(
        (item.policy for item in report.headline), key=("retry-vma", "hold-vma").index)


def test_headline_empty_when_nothing_changes() -> None:
    metrics = sample_metrics()
    same = {"recording": metrics["stock"], "stock": metrics["stock"], "copy": metrics["stock"]}
    report = build_report(sample_input(metrics=same, policies=("copy",)))
    assert report.headline == ()


def _thread(tid: int, total: int) -> ThreadMetrics:
    return ThreadMetrics(tid, f"t{tid}", 1, Dist.of([total]), 0)


def test_rank_threads_by_time_in_faults() -> None:
    base = [_thread(1, 100), _thread(2, 100), _thread(3, 100), _thread(4, 100), _thread(9, 5)]
    policy = [_thread(1, 50), _thread(2, 10), _thread(3, 300), _thread(4, 100), _thread(7, 1)]
    ranking = rank_threads("p", base, policy, top=5)
    assert [change.tid for change in ranking.improved] == [2, 1]
    assert [change.tid for change in ranking.regressed] == [3]
    assert ranking.compared == 4  # tid 7 is new and tid 9 is gone: not comparable
    assert [c.tid for c in rank_threads("p", base, policy, top=1).improved] == [2]


def test_thread_names_are_kept_verbatim() -> None:
    report = build_report(sample_input())
    comms = {change.comm for ranking in report.threads
             for change in (*ranking.improved, *ranking.regressed)}
    assert HOSTILE_COMM in comms


def test_missing_timeline_is_an_error() -> None:
    metrics = sample_metrics()
    del metrics["hold-vma"]
    with pytest.raises(ValueError, match="hold-vma"):
        build_report(sample_input(metrics=metrics))


@pytest.mark.parametrize(("ns", "text"), [
    (0, "0 ns"), (999, "999 ns"), (1_000, "1.00 us"), (12_345, "12.3 us"), (123_456, "123 us"),
    (1_310_000, "1.31 ms"), (10_700_000_000, "10.7 s"), (-2_500, "-2.50 us"),
])
def test_format_ns(ns: int, text: str) -> None:
    assert format_ns(ns) == text


@pytest.mark.parametrize(("relative", "text"), [
    (None, "new"), (0.0, "0%"), (0.067, "+6.7%"), (-0.96, "-96%"), (1.31, "+131%"),
    (11.15, "12x"), (-1.0, "-100%"), (0.00016, "+0.016%"), (-0.997, "-99.7%"),
    (-0.99999, "-99.9%"), (-0.045, "-4.5%"), (8.99, "+899%"),
])
def test_format_relative(relative: float | None, text: str) -> None:
    assert format_relative(relative) == text


def test_metric_path_reads_absent_writer_ops_as_zero() -> None:
    metrics_json = sample_metrics()["stock"].to_json()
    assert MetricPath.of("writers.by_op.fork.max").value_in(metrics_json) == 0
    assert MetricPath.of("fault_latency_ns.buckets.[0,1us)").value_in(metrics_json) == \
        sample_metrics()["stock"].fault_latency.buckets[0]


def test_report_layer_imports_no_cli_tui_or_textual() -> None:
    code = (
        "import sys\n"
        "import faulttui.report.model, faulttui.report.text, faulttui.report.markdown\n"
        "import faulttui.report.json_report, faulttui.report.html, faulttui.report.svg\n"
        "import faulttui.report.gates\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith(('textual.',"
        " 'faulttui.cli', 'faulttui.tui'))]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_headline_from_a_zero_baseline() -> None:
    report = build_report(sample_input(baseline="hold-vma", policies=("stock",)))
    sentences = [item.sentence for item in report.headline]
    assert ("stock brings total mmap_lock read wait from none to 95.2 ms (0 under hold-vma)."
            in sentences)
    item = next(item for item in report.headline if item.path == "mmap_lock.wait_ns.read.total")
    assert item.delta.relative is None and item.baseline_value == 0
