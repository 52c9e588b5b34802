"""Synthetic workloads: a JSON description of a process (VMAs, files, memory limit, storage,
thread programs) -> a `replay.workload.Workload` the engine replays. See docs/synthetic.md."""

from replay.synthetic.expand import expand, replay_params
from replay.synthetic.spec import (
    SYNTHETIC_KIND,
    SYNTHETIC_SCHEMA_VERSION,
    SyntheticSpec,
    spec_to_json,
)
from replay.synthetic.validate import parse_spec

__all__ = ["SYNTHETIC_KIND", "SYNTHETIC_SCHEMA_VERSION", "SyntheticSpec", "expand",
           "parse_spec", "replay_params", "spec_to_json"]
