"""Use case: a recording, some policies and the what-if knobs -> the replayed timelines and
every timeline's metrics, side by side (DESIGN.md "Metrics in JSON").

The CLI (`faulttui replay --json`), the TUI and the diff report all call `compare`, and read
the same `Comparison`: its Timelines to draw, its Metrics to print, `to_json()` to emit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from faulttui import __version__
from faulttui.analysis.load import Recording
from faulttui.analysis.parallel import run_policies, run_policy
from faulttui.analysis.recording_cache import cached_workload, write_cached_workload
from faulttui.errors import UsageError
from faulttui.model.metrics import Metrics, compute_metrics
from faulttui.model.timeline import Timeline
from replay import (
    BUILTIN_POLICIES,
    Policy,
    ReplayParams,
    Workload,
    available_policies,
    extract_workload,
    get_policy,
)

COMPARISON_SCHEMA_VERSION = 1
RECORDING = "recording"

# progress(label, done, total): label is the policy id being replayed
ComparisonProgress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Comparison:
    trace: str
    params: ReplayParams
    workload: Workload
    # "recording" first, then the policies in the order asked (only the recording when the
    # comparison was made with keep_timelines=False)
    timelines: dict[str, Timeline]
    metrics: dict[str, Metrics]  # every timeline's, in the same order
    events: dict[str, int]  # simulated events per replayed policy

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(name for name in self.metrics if name != RECORDING)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": COMPARISON_SCHEMA_VERSION,
            "faulttui_version": __version__,
            "trace": self.trace,
            "params": self.params.to_json(),
            "timelines": {name: metrics.to_json() for name, metrics in self.metrics.items()},
        }

    def to_json_bytes(self, indent: bool = True) -> bytes:
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2 if indent else 0)


def resolve_policies(policies: Sequence[str | Policy]) -> list[Policy]:
    """Policies by id (or as objects), in order, without repeats; all built-ins if none."""
    if not policies:
        return list(BUILTIN_POLICIES)
    chosen: dict[str, Policy] = {}
    for policy in policies:
        if isinstance(policy, str):
            if policy == RECORDING:
                raise UsageError("'recording' is always included; name policies with -p "
                                 f"({', '.join(available_policies())})")
            policy = get_policy(policy)
        chosen.setdefault(policy.id, policy)
    return list(chosen.values())


def compare(recording: Recording, policies: Sequence[str | Policy],
            params: ReplayParams | None = None, progress: ComparisonProgress | None = None,
            workload: Workload | None = None, *, keep_timelines: bool = True) -> Comparison:
    """Replay `recording` under each policy (same seed for each) and compute every metric.

    Deterministic: the same recording, policies and params give byte-identical JSON. With
    `keep_timelines=False` only the recording's timeline is kept (metrics for all), and the
    replays may run in parallel worker processes.
    """
    params = params or ReplayParams()
    chosen = resolve_policies(policies)
    workload = workload or recording.workload or cached_workload(recording)
    extracted = workload is None
    if workload is None:  # extracted once per trace, then read from the cache
        workload = extract_workload(recording.timeline, recording.path)
    recording_metrics: list[Metrics] = []

    def meanwhile(replayed: Workload = workload) -> None:
        recording_metrics.append(compute_metrics(recording.timeline))
        if extracted:
            write_cached_workload(recording, replayed)

    if keep_timelines:
        runs = [run_policy(workload, policy, params, progress, keep_timeline=True)
                for policy in chosen]
        meanwhile()
    else:  # the cache entry is written while the workers replay
        runs = run_policies(workload, chosen, params, progress, keep_timelines=False,
                            while_waiting=meanwhile)
    timelines: dict[str, Timeline] = {RECORDING: recording.timeline}
    metrics: dict[str, Metrics] = {RECORDING: recording_metrics[0]}
    for run in runs:
        if run.timeline is not None:
            timelines[run.policy] = run.timeline
        metrics[run.policy] = run.metrics
    return Comparison(recording.path, params, workload, timelines, metrics,
                      {run.policy: run.events for run in runs})
