"""The diff report as data: what every renderer (text, markdown, json, html) shows.

`build_report(ReportInput)` is a pure function from the metrics of each timeline (computed by
`faulttui.model.metrics`, never here) to a frozen `DiffReport`: the headline sentences, the
tables of values and deltas against the baseline, the per-thread rankings and the replay
parameters. Renderers only format it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faulttui.model.metrics import BUCKET_LABELS, Dist, Metrics, ThreadMetrics
from faulttui.report.gates import GateResult
from faulttui.report.metric_paths import MetricPath
from faulttui.report.units import (
    Unit,
    format_percent,
    format_relative,
    format_value,
    relative_change,
)

RECORDING = "recording"
DEFAULT_TOP_THREADS = 5
HEADLINES_PER_SIDE = 2  # per policy: this many improvements and this many regressions


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What a diff report is built from.

    `metrics` maps each timeline name ("recording", then policy ids) to its metrics and must
    hold the baseline and every policy. `policies` are the compared policies, in the order the
    user gave them (the baseline is left out of it unless asked for explicitly).
    """

    trace: str
    version: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Metrics]
    baseline: str
    policies: tuple[str, ...]
    rerun: str = ""  # a command line that reproduces the report
    top_threads: int = DEFAULT_TOP_THREADS
    gates: tuple[GateResult, ...] = ()


@dataclass(frozen=True, slots=True)
class Delta:
    """A policy's value against the baseline's; `relative` is None when the baseline is 0."""

    absolute: int
    relative: float | None

    @staticmethod
    def between(value: int, baseline_value: int) -> Delta:
        return Delta(value - baseline_value, relative_change(value, baseline_value))

    @property
    def label(self) -> str:
        return format_relative(self.relative)


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric across the report's columns; `deltas[i]` is None for the recording and the
    baseline columns."""

    path: str
    label: str
    unit: Unit
    values: tuple[int, ...]
    deltas: tuple[Delta | None, ...]


@dataclass(frozen=True, slots=True)
class Table:
    key: str  # a stable identifier ("summary", "fault_latency_ns.percentiles", ...)
    title: str
    rows: tuple[MetricRow, ...]


@dataclass(frozen=True, slots=True)
class Distribution:
    """A distribution (fault latency, a wait) in every column: percentiles and log buckets."""

    key: str  # its path in the METRICS JSON
    title: str
    dists: tuple[Dist, ...]  # one per column
    percentiles: Table
    buckets: Table


@dataclass(frozen=True, slots=True)
class ThreadChange:
    """One thread under a policy against the same tid under the baseline."""

    tid: int
    comm: str
    baseline_faults: int
    faults: int
    baseline_fault_time_ns: int  # total time in faults (fault_latency_ns.total)
    fault_time_ns: int
    baseline_p99_ns: int
    p99_ns: int
    baseline_mmap_lock_wait_ns: int
    mmap_lock_wait_ns: int

    @property
    def delta(self) -> Delta:
        return Delta.between(self.fault_time_ns, self.baseline_fault_time_ns)


@dataclass(frozen=True, slots=True)
class ThreadRanking:
    policy: str
    improved: tuple[ThreadChange, ...]  # largest cut in time spent in faults first
    regressed: tuple[ThreadChange, ...]  # largest growth first
    compared: int  # threads present under both the policy and the baseline


@dataclass(frozen=True, slots=True)
class Headline:
    policy: str
    path: str
    label: str
    unit: Unit
    baseline_value: int
    value: int
    delta: Delta
    sentence: str


@dataclass(frozen=True, slots=True)
class DiffReport:
    trace: str
    version: str
    params: tuple[tuple[str, Any], ...]
    rerun: str
    baseline: str
    columns: tuple[str, ...]  # "recording", the baseline, then each other policy
    compared: tuple[str, ...]  # the columns that carry deltas (policies other than the baseline)
    headline: tuple[Headline, ...]
    summary: Table
    distributions: tuple[Distribution, ...]
    writers: Table
    threads: tuple[ThreadRanking, ...]
    gates: tuple[GateResult, ...]

    @property
    def violated_gates(self) -> tuple[GateResult, ...]:
        return tuple(result for result in self.gates if result.violated)


# (path, label) of the summary table, in display order
SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("faults.total", "faults"),
    ("faults.major", "major faults"),
    ("faults.vma_fallbacks", "VMA-lock fallbacks"),
    ("faults.retries.total", "retries"),
    ("faults.retries.mmap", "retries under mmap_lock"),
    ("faults.retries.vma", "retries under VMA lock"),
    ("faults.refaults", "refaults"),
    ("fault_latency_ns.mean", "fault latency mean"),
    ("fault_latency_ns.p50", "fault latency p50"),
    ("fault_latency_ns.p99", "fault latency p99"),
    ("fault_latency_ns.p999", "fault latency p99.9"),
    ("fault_latency_ns.max", "fault latency max"),
    ("fault_latency_ns.total", "time in faults"),
    ("mmap_lock.acquisitions.read", "mmap_lock read acquisitions"),
    ("mmap_lock.acquisitions.write", "mmap_lock write acquisitions"),
    ("mmap_lock.trylock_failed", "mmap_lock failed trylocks"),
    ("mmap_lock.downgrades", "mmap_lock downgrades"),
    ("mmap_lock.wait_ns.read.total", "mmap_lock read wait total"),
    ("mmap_lock.wait_ns.read.p99", "mmap_lock read wait p99"),
    ("mmap_lock.wait_ns.read.max", "mmap_lock read wait max"),
    ("mmap_lock.wait_ns.write.total", "mmap_lock write wait total"),
    ("mmap_lock.wait_ns.write.max", "mmap_lock write wait max"),
    ("mmap_lock.hold_ns.read.max", "mmap_lock read hold max"),
    ("mmap_lock.hold_ns.write.max", "mmap_lock write hold max"),
    ("io.requests", "I/O requests"),
    ("io.wait_ns.p99", "I/O latency p99"),
    ("writers.ops", "writer syscalls"),
    ("writers.latency_ns.p99", "writer latency p99"),
    ("writers.latency_ns.max", "writer latency max"),
    ("priority_inversion_ns", "priority inversion"),
    ("makespan_ns", "makespan"),
)

# (path, wording in a sentence); lower is better for every one of them
HEADLINE_CANDIDATES: tuple[tuple[str, str], ...] = (
    ("fault_latency_ns.p99", "fault latency p99"),
    ("fault_latency_ns.p50", "median fault latency"),
    ("fault_latency_ns.max", "worst fault latency"),
    ("fault_latency_ns.total", "total time in faults"),
    ("faults.retries.mmap", "retries under mmap_lock"),
    ("faults.refaults", "refaults (pages read again after eviction)"),
    ("mmap_lock.acquisitions.read", "mmap_lock read acquisitions"),
    ("mmap_lock.wait_ns.read.total", "total mmap_lock read wait"),
    ("mmap_lock.wait_ns.write.max", "worst mmap_lock write wait"),
    ("writers.latency_ns.max", "worst writer stall"),
    ("writers.latency_ns.p99", "writer latency p99"),
    ("priority_inversion_ns", "priority-inversion time"),
    ("makespan_ns", "makespan"),
)

# changes smaller than this are noise for the headline (per unit)
_HEADLINE_FLOOR: Mapping[Unit, int] = {Unit.NS: 10_000, Unit.COUNT: 10}

PERCENTILE_ROWS: tuple[tuple[str, str], ...] = (
    ("count", "count"), ("mean", "mean"), ("p50", "p50"), ("p90", "p90"), ("p99", "p99"),
    ("p999", "p99.9"), ("max", "max"), ("total", "total"),
)

# (path in METRICS, title, the Dist of a Metrics)
DISTRIBUTIONS: tuple[tuple[str, str, Callable[[Metrics], Dist]], ...] = (
    ("fault_latency_ns", "Fault latency", lambda metrics: metrics.fault_latency),
    ("mmap_lock.wait_ns.read", "mmap_lock read wait", lambda metrics: metrics.mmap_read_wait),
    ("mmap_lock.wait_ns.write", "mmap_lock write wait", lambda metrics: metrics.mmap_write_wait),
)

WRITER_FIELDS: tuple[tuple[str, str], ...] = (
    ("count", "calls"), ("p50", "p50"), ("p99", "p99"), ("max", "max"), ("total", "total"),
)


def report_columns(baseline: str, policies: Sequence[str]) -> tuple[str, ...]:
    """recording, the baseline, then every other policy in the given order (no repeats)."""
    columns = [RECORDING]
    for name in (baseline, *policies):
        if name not in columns:
            columns.append(name)
    return tuple(columns)


def build_report(source: ReportInput) -> DiffReport:
    columns = report_columns(source.baseline, source.policies)
    missing = [name for name in columns if name not in source.metrics]
    if missing:
        raise ValueError(f"no metrics for {', '.join(missing)}")
    compared = tuple(name for name in columns if name not in (RECORDING, source.baseline))
    metrics_json = {name: source.metrics[name].to_json() for name in columns}
    row_of = _row_builder(columns, source.baseline, compared, metrics_json)

    summary = Table("summary", "Metrics", tuple(row_of(path, label) for path, label in SUMMARY_ROWS))
    distributions = tuple(
        _distribution(key, title, dist_of, columns, source.metrics, row_of)
        for key, title, dist_of in DISTRIBUTIONS
    )
    operations = sorted({op for name in columns
                         for op, _ in source.metrics[name].writer_latency_by_op})
    writers = Table("writers", "Writer stalls (mmap_lock writers by syscall)", tuple(
        row_of(f"writers.by_op.{op}.{field}", f"{op} {label}")
        for op in operations for field, label in WRITER_FIELDS
    ) + tuple(row_of(f"writers.latency_ns.{field}", f"all {label}")
              for field, label in WRITER_FIELDS))
    threads = tuple(
        rank_threads(policy, source.metrics[source.baseline].threads,
                     source.metrics[policy].threads, source.top_threads)
        for policy in compared
    )
    return DiffReport(
        trace=source.trace, version=source.version, params=tuple(source.params.items()),
        rerun=source.rerun, baseline=source.baseline, columns=columns, compared=compared,
        headline=headlines(summary, columns, source.baseline, compared),
        summary=summary, distributions=distributions, writers=writers, threads=threads,
        gates=source.gates,
    )


def _row_builder(columns: tuple[str, ...], baseline: str, compared: tuple[str, ...],
                 metrics_json: Mapping[str, Mapping[str, Any]]) -> Callable[[str, str], MetricRow]:
    def row(path: str, label: str) -> MetricRow:
        metric = MetricPath.of(path)
        values = tuple(metric.value_in(metrics_json[name]) for name in columns)
        base = values[columns.index(baseline)]
        deltas = tuple(Delta.between(value, base) if name in compared else None
                       for name, value in zip(columns, values, strict=True))
        return MetricRow(path, label, metric.unit, values, deltas)

    return row


def _distribution(key: str, title: str, dist_of: Callable[[Metrics], Dist],
                  columns: tuple[str, ...], metrics: Mapping[str, Metrics],
                  row_of: Callable[[str, str], MetricRow]) -> Distribution:
    percentiles = Table(f"{key}.percentiles", f"{title}: percentiles", tuple(
        row_of(f"{key}.{field}", label) for field, label in PERCENTILE_ROWS))
    buckets = Table(f"{key}.buckets", f"{title}: log buckets", tuple(
        row_of(f"{key}.buckets.{label}", label) for label in BUCKET_LABELS))
    return Distribution(key, title, tuple(dist_of(metrics[name]) for name in columns),
                        percentiles, buckets)


def rank_threads(policy: str, baseline_threads: Sequence[ThreadMetrics],
                 policy_threads: Sequence[ThreadMetrics], top: int) -> ThreadRanking:
    """Threads (matched by tid) whose time in faults shrank or grew the most under `policy`."""
    base_by_tid = {thread.tid: thread for thread in baseline_threads}
    changes = [
        ThreadChange(
            tid=thread.tid, comm=thread.comm or base.comm,
            baseline_faults=base.faults, faults=thread.faults,
            baseline_fault_time_ns=base.fault_latency.total,
            fault_time_ns=thread.fault_latency.total,
            baseline_p99_ns=base.fault_latency.p99, p99_ns=thread.fault_latency.p99,
            baseline_mmap_lock_wait_ns=base.mmap_lock_wait_ns,
            mmap_lock_wait_ns=thread.mmap_lock_wait_ns,
        )
        for thread in policy_threads
        if (base := base_by_tid.get(thread.tid)) is not None
    ]
    improved = sorted((c for c in changes if c.delta.absolute < 0),
                      key=lambda change: (change.delta.absolute, change.tid))
    regressed = sorted((c for c in changes if c.delta.absolute > 0),
                       key=lambda change: (-change.delta.absolute, change.tid))
    return ThreadRanking(policy, tuple(improved[:top]), tuple(regressed[:top]), len(changes))


def headlines(summary: Table, columns: tuple[str, ...], baseline: str,
              compared: tuple[str, ...]) -> tuple[Headline, ...]:
    """The largest effects of each policy, policy by policy: its largest improvements, then
    its largest regressions (at most HEADLINES_PER_SIDE of each), largest first."""
    rows = {row.path: row for row in summary.rows}
    base_index = columns.index(baseline)
    selected: list[Headline] = []
    for policy in compared:
        index = columns.index(policy)
        improvements: list[tuple[float, Headline]] = []
        regressions: list[tuple[float, Headline]] = []
        for path, wording in HEADLINE_CANDIDATES:
            row = rows[path]
            base, value = row.values[base_index], row.values[index]
            floor = _HEADLINE_FLOOR[row.unit]
            if abs(value - base) < floor:
                continue
            score = abs(math.log((value + floor) / (base + floor)))
            delta = Delta.between(value, base)
            item = Headline(policy, path, wording, row.unit, base, value, delta,
                            _sentence(policy, wording, row.unit, base, value, delta, baseline))
            (improvements if value < base else regressions).append((score, item))
        for side in (improvements, regressions):
            side.sort(key=lambda scored: -scored[0])
            selected.extend(item for _, item in side[:HEADLINES_PER_SIDE])
    return tuple(selected)


def _sentence(policy: str, wording: str, unit: Unit, base: int, value: int, delta: Delta,
              baseline: str) -> str:
    before, after = format_value(base, unit), format_value(value, unit)
    if value == 0:
        return f"{policy} eliminates {wording} ({before} under {baseline})."
    if base == 0:
        return f"{policy} brings {wording} from none to {after} (0 under {baseline})."
    relative = delta.relative or 0.0
    if relative < 0:
        return (f"{policy} cuts {wording} by {format_percent(-relative)} "
                f"({before} -> {after}) vs {baseline}.")
    if relative >= 1:
        ratio = value / base
        times = f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"
        return f"{policy} raises {wording} {times} ({before} -> {after}) vs {baseline}."
    return (f"{policy} raises {wording} by {format_percent(relative)} "
            f"({before} -> {after}) vs {baseline}.")


def no_headline_sentence(report: DiffReport) -> str:
    if not report.compared:
        return f"Only the baseline ({report.baseline}) was replayed: nothing to compare."
    return f"No policy changes a headline metric noticeably vs {report.baseline}."
