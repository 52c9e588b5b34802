"""The policy protocol, the built-in catalogue and the `faulttui.policies` entry-point group,
exercised with a policy defined here and installed as a real distribution on sys.path."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from faulttui.errors import UsageError
from faulttui.model.metrics import compute_metrics
from faulttui.model.timeline import AttemptLock, FilePage, Vma
from replay import (
    BUILTIN_POLICIES,
    ENTRY_POINT_GROUP,
    FaultSpec,
    Policy,
    ThreadProgram,
    Workload,
    available_policies,
    get_policy,
    simulate,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DOMAIN_IDS = ("stock", "retry-vma", "retry-vma-uptodate", "hold-vma", "mmap-only", "hold-mmap")


@dataclass(frozen=True)
class AnonDropFileHold:
    """Wilcox's compromise (reference 1.7): keep the drop-and-retry for anon memory only;
    a file fault sleeps holding its VMA lock."""

    id: str = "anon-drop"
    summary: str = "drop for anon faults only; hold the VMA lock for file I/O"

    def first_lock(self, fault: FaultSpec) -> AttemptLock:
        return AttemptLock.VMA

    def drops_lock(self, fault: FaultSpec, lock: AttemptLock, uptodate: bool) -> bool:
        return fault.anon

    def retry_lock(self, fault: FaultSpec) -> AttemptLock:
        return AttemptLock.VMA


class NotAPolicy:
    id = "broken"


def _install(tmp_path: Path, entry_points: str) -> Path:
    """A distribution `faulttui-test-policies` whose entry points name this module."""
    site = tmp_path / "site"
    dist = site / "faulttui_test_policies-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: faulttui-test-policies\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n")
    return site


def _entry_points(site: Path) -> importlib.metadata.EntryPoints:
    (distribution,) = importlib.metadata.distributions(path=[str(site)])
    return distribution.entry_points.select(group=ENTRY_POINT_GROUP)


def test_builtins_use_the_domain_ids_and_follow_the_protocol() -> None:
    assert tuple(policy.id for policy in BUILTIN_POLICIES) == DOMAIN_IDS
    for policy in BUILTIN_POLICIES:
        assert isinstance(policy, Policy) and policy.summary
        assert get_policy(policy.id) is policy


def test_unknown_policy_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown policy 'nope'.*retry-vma"):
        get_policy("nope")


def test_a_third_party_policy_from_the_entry_point_group(tmp_path: Path) -> None:
    site = _install(tmp_path, "anon-drop = test_policies:AnonDropFileHold")
    policies = available_policies(_entry_points(site))
    assert list(policies)[:6] == list(DOMAIN_IDS)
    info = policies["anon-drop"]
    assert info.origin == "test_policies:AnonDropFileHold"
    policy = get_policy("anon-drop", _entry_points(site))
    threads = (ThreadProgram(1, 1, "t", 120, (
        FaultSpec(0, 1, "mm", 0x1000, 0, False, 0, False, 100_000, 1000, 1000, 120, wake_ns=0),
        FaultSpec(0, 2, "mm", 0x9000, 1, True, 1, False, 100_000, 1000, 1000, 120, wake_ns=0),
    )),)
    work = Workload("t", 0, 10**9, threads,
                    vmas=(Vma(0, "mm", 0, 0x8000, "file"), Vma(1, "mm", 0x8000, 0x10000, "anon")),
                    pages=(FilePage("1:1", 1, 0), FilePage("1:1", 1, 4096)))
    timeline = simulate(work, policy).timeline
    file_fault, anon_fault = timeline.faults
    assert timeline.name == "anon-drop"
    assert file_fault.retry_lock is None and file_fault.attempts[0].io_wait_held_ns > 0
    assert anon_fault.retry_lock is AttemptLock.VMA
    assert compute_metrics(timeline).retries_vma == 1


def test_a_broken_entry_point_is_a_usage_error(tmp_path: Path) -> None:
    site = _install(tmp_path, "broken = test_policies:NotAPolicy")
    with pytest.raises(UsageError, match=r"broken.*lacks"):
        available_policies(_entry_points(site))
    site = _install(tmp_path / "2", "missing = test_policies:DoesNotExist")
    with pytest.raises(UsageError, match="cannot load policy entry point 'missing'"):
        available_policies(_entry_points(site))


def test_a_builtin_registered_under_its_own_id_is_not_a_duplicate(tmp_path: Path) -> None:
    site = _install(tmp_path, "stock = replay.policies:STOCK")
    assert available_policies(_entry_points(site))["stock"].origin == "built-in"


def test_policies_command_lists_builtins_and_entry_points(tmp_path: Path) -> None:
    site = _install(tmp_path, "anon-drop = test_policies:AnonDropFileHold")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO_ROOT / "tests"),
                                         env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-m", "faulttui", "policies"], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [*DOMAIN_IDS, "anon-drop"]
    assert "[test_policies:AnonDropFileHold]" in lines[-1]
