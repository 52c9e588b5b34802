"""`event_counts` (what `info` reports for a synthetic source) counts exactly the events
the ftrace emitter prints, though it counts a replay's uncontended faults from their columns
without emitting them."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from faulttui.model.fault_table import FaultTable
from replay import get_policy, simulate
from replay.synthetic import expand, replay_params
from replay.synthetic.ftrace_emit import event_counts, trace_events
from replay.synthetic.scenarios import SCENARIOS, get_scenario

SMALL = {"ioretry": {"threads": 16, "file_mb": 2, "memory_limit_mb": 16}}  # (default: 2M faults)


@pytest.mark.parametrize("name", [scenario.name for scenario in SCENARIOS])
def test_counted_events_are_the_emitted_events(name: str) -> None:
    spec = get_scenario(name).spec(SMALL.get(name, {}))
    timeline = simulate(expand(spec), get_policy("stock"), replay_params(spec)).timeline
    assert isinstance(timeline.faults, FaultTable) and timeline.faults.uncontended
    emitted = Counter(event.name for event in trace_events(timeline))
    assert event_counts(timeline) == emitted
    # and the same from a plain tuple of records
    records = dataclasses.replace(timeline, faults=tuple(timeline.faults))
    assert event_counts(records) == emitted
