"""Use case: a recording, some policies and the what-if knobs -> the replayed timelines and
every timeline's metrics, side by side (DESIGN.md "Metrics in JSON").

The CLI (`faulttui replay --json`), the TUI and the diff report all call `compare`, and read
the same `Comparison`: its Timelines to draw, its Metrics to print, `to_json()` to emit.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from faulttui import __version__
from faulttui.analysis.load import Recording
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
    simulate,
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
    timelines: dict[str, Timeline]  # "recording" first, then the policies in the order asked
    metrics: dict[str, Metrics]
    events: dict[str, int]  # simulated events per replayed policy

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(name for name in self.timelines if name != RECORDING)

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
            workload: Workload | None = None) -> Comparison:
    """Replay `recording` under each policy (same seed for each) and compute every metric.

    Deterministic: the same recording, policies and params give byte-identical JSON.
    """
    params = params or ReplayParams()
    chosen = resolve_policies(policies)
    workload = workload or recording.workload or extract_workload(recording.timeline,
                                                                  recording.path)
    timelines: dict[str, Timeline] = {RECORDING: recording.timeline}
    events: dict[str, int] = {}
    for policy in chosen:
        def report(done: int, total: int, label: str = policy.id) -> None:
            if progress is not None:
                progress(label, done, total)

        # each policy replays with its own generator seeded alike, so adding a policy to
        # the list never changes another policy's result
        result = simulate(workload, policy, params, random.Random(params.seed),
                          report if progress is not None else None)
        timelines[policy.id] = result.timeline
        events[policy.id] = result.events
    metrics = {name: compute_metrics(timeline) for name, timeline in timelines.items()}
    return Comparison(recording.path, params, workload, timelines, metrics, events)
