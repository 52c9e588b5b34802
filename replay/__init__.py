"""Replay a recorded workload under alternative fault-retry policies.

Imports only `faulttui.model` and `faulttui.errors` from faulttui (import-linter enforces
it). Entry points: `extract_workload` (Timeline -> Workload), `simulate` (Workload +
Policy -> Timeline), `get_policy` / `available_policies` (built-ins and the
`faulttui.policies` entry-point group).
"""

from replay.extract import extract_workload
from replay.params import ReplayParams
from replay.policies import (
    BUILTIN_POLICIES,
    ENTRY_POINT_GROUP,
    BuiltinPolicy,
    Policy,
    PolicyInfo,
    available_policies,
    get_policy,
)
from replay.simulate import ReplayResult, simulate
from replay.workload import (
    WORKLOAD_SCHEMA_VERSION,
    FaultSpec,
    LockSection,
    ThreadProgram,
    Workload,
    WriterSpec,
    load_workload,
    save_workload,
    workload_from_json,
    workload_to_json,
)

__all__ = [
    "BUILTIN_POLICIES", "ENTRY_POINT_GROUP", "WORKLOAD_SCHEMA_VERSION", "BuiltinPolicy",
    "FaultSpec", "LockSection", "Policy", "PolicyInfo", "ReplayParams", "ReplayResult",
    "ThreadProgram", "Workload", "WriterSpec", "available_policies", "extract_workload",
    "get_policy",
    "load_workload", "save_workload", "simulate", "workload_from_json", "workload_to_json",
]
