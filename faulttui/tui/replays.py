"""Replays for the compare view (pure; no textual): a thin view of the shared use case
`faulttui.analysis.compare.compare`, so the TUI, `faulttui replay --json` and the diff report
read the same timelines and the same Metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faulttui.analysis.compare import compare
from faulttui.analysis.load import Recording
from faulttui.model.fault_table import FaultTable
from faulttui.model.metrics import Dist, Metrics
from faulttui.model.timeline import Timeline
from replay import ReplayParams, available_policies

ReplayProgress = Callable[[str, int, int], None]
"""progress(policy id, faults replayed, faults in the workload)."""


@dataclass(frozen=True, slots=True)
class ReplayRun:
    name: str  # "recording" or a policy id
    timeline: Timeline
    metrics: Metrics


def policy_catalogue() -> list[tuple[str, str]]:
    """(id, one-line summary) of every available policy."""
    return [(policy_id, info.policy.summary) for policy_id, info in available_policies().items()]


def replay_params(params: ReplayParams | Mapping[str, Any] | None) -> ReplayParams:
    """ReplayParams as given, or built from its keyword arguments (seed, memory_limit, ...)."""
    if params is None:
        return ReplayParams()
    if isinstance(params, ReplayParams):
        return params
    return ReplayParams(**dict(params))


def run_replays(recording: Recording, policies: Sequence[str],
                params: ReplayParams | Mapping[str, Any] | None,
                progress: ReplayProgress | None = None) -> list[ReplayRun]:
    """The recording first, then each policy's replay, each with its metrics."""
    comparison = compare(recording, policies, replay_params(params), progress)
    for timeline in comparison.timelines.values():
        if isinstance(timeline.faults, FaultTable):
            timeline.faults.as_tuple()  # every record made here, not on the UI's first look
    return [ReplayRun(name, timeline, comparison.metrics[name])
            for name, timeline in comparison.timelines.items()]


@dataclass(frozen=True, slots=True)
class MetricRow:
    label: str
    values: tuple[int, ...]  # one per run, recording first
    is_time: bool  # nanoseconds (formatted as a duration) or a count


def _dist_rows(label: str, dists: Sequence[Dist]) -> list[MetricRow]:
    return [
        MetricRow(f"{label} p50", tuple(dist.p50 for dist in dists), True),
        MetricRow(f"{label} p99", tuple(dist.p99 for dist in dists), True),
        MetricRow(f"{label} max", tuple(dist.max for dist in dists), True),
        MetricRow(f"{label} total", tuple(dist.total for dist in dists), True),
    ]


def metric_rows(runs: Sequence[ReplayRun]) -> list[MetricRow]:
    """The comparison table: the same Metrics fields for every run, recording first."""
    metrics = [run.metrics for run in runs]

    def counts(label: str, getter: Callable[[Metrics], int]) -> MetricRow:
        return MetricRow(label, tuple(getter(m) for m in metrics), False)

    def times(label: str, getter: Callable[[Metrics], int]) -> MetricRow:
        return MetricRow(label, tuple(getter(m) for m in metrics), True)

    return [
        counts("faults", lambda m: m.faults_total),
        counts("major faults", lambda m: m.faults_major),
        counts("VMA-lock fallbacks", lambda m: m.vma_fallbacks),
        counts("retries under mmap_lock", lambda m: m.retries_mmap),
        counts("retries under VMA lock", lambda m: m.retries_vma),
        counts("refaults", lambda m: m.refaults),
        *_dist_rows("fault latency", [m.fault_latency for m in metrics])[:3],
        counts("mmap_lock read acquisitions", lambda m: m.mmap_read_acquisitions),
        counts("mmap_lock write acquisitions", lambda m: m.mmap_write_acquisitions),
        *_dist_rows("mmap_lock read wait", [m.mmap_read_wait for m in metrics])[1:],
        *_dist_rows("mmap_lock write wait", [m.mmap_write_wait for m in metrics])[1:],
        counts("I/O requests", lambda m: m.io_requests),
        times("writer latency p99", lambda m: m.writer_latency.p99),
        times("priority inversion", lambda m: m.priority_inversion_ns),
        times("makespan", lambda m: m.makespan_ns),
    ]


def delta_text(before: int, after: int) -> str:
    """'+12%' / '-3%' / '=' / 'new' for a change from `before` to `after`."""
    if after == before:
        return "="
    if before == 0:
        return "new"
    percent = 100 * (after - before) / before
    return f"{percent:+.1f}%" if abs(percent) < 10 else f"{percent:+.0f}%"
