"""Fault-retry policies: the protocol the engine asks, the six built-ins, and the registry.

A policy answers three questions the kernel's fault path asks (DOMAIN.md, reference 1.4):

- `first_lock(fault)`: does the fault try the per-VMA lock first (`lock_vma_under_rcu`),
  or go straight to `mmap_lock` read (kernels before 6.4)?
- `drops_lock(fault, lock, uptodate)`: the page is not ready (a read to wait for, or a
  folio lock held by someone else). Drop `lock` while waiting and return VM_FAULT_RETRY
  (True), or sleep holding it (False)? `uptodate` says the folio is already uptodate and
  only its lock is busy (v2 patches 4-5 do not drop then).
- `retry_lock(fault)`: after a drop, which lock the retry tries: the VMA lock (RFC/v2
  `VM_FAULT_RETRY_VMA`) or `mmap_lock` read (stock).

Fixed kernel rules that no policy changes: a VMA lock that cannot be taken falls back to
`mmap_lock` read (`lock_vma_under_rcu` fails -> `lock_mm_and_find_vma`); an attempt that
carries `FAULT_FLAG_TRIED` (set after a major fault's drop, or after any drop from an
`mmap_lock` attempt, arch/x86/mm/fault.c) never drops again and waits holding its lock.

A third-party policy is any object with `id`, `summary` and these three methods,
registered in the `faulttui.policies` entry-point group of its own package:

    [project.entry-points."faulttui.policies"]
    anon-drop = "mypkg.policies:AnonDrop"     # a class (instantiated without arguments) or an instance
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from faulttui.errors import UsageError
from faulttui.model.timeline import AttemptLock
from replay.workload import FaultSpec

ENTRY_POINT_GROUP = "faulttui.policies"


@runtime_checkable
class Policy(Protocol):
    @property
    def id(self) -> str: ...  # the id users type after -p

    @property
    def summary(self) -> str: ...  # one line for `faulttui policies`

    def first_lock(self, fault: FaultSpec) -> AttemptLock: ...

    def drops_lock(self, fault: FaultSpec, lock: AttemptLock, uptodate: bool) -> bool: ...

    def retry_lock(self, fault: FaultSpec) -> AttemptLock: ...


@dataclass(frozen=True, slots=True)
class BuiltinPolicy:
    """A built-in policy: four switches answer the protocol."""

    id: str
    summary: str
    use_vma_lock: bool  # try the per-VMA lock first
    drop_for_io: bool  # drop the lock to wait for a read or a busy folio
    retry_under_vma: bool  # the retry tries the VMA lock again
    drop_if_uptodate: bool = True  # also drop when the folio is uptodate and only locked

    def first_lock(self, fault: FaultSpec) -> AttemptLock:
        return AttemptLock.VMA if self.use_vma_lock else AttemptLock.MMAP_READ

    def drops_lock(self, fault: FaultSpec, lock: AttemptLock, uptodate: bool) -> bool:
        return self.drop_for_io and (self.drop_if_uptodate or not uptodate)

    def retry_lock(self, fault: FaultSpec) -> AttemptLock:
        return AttemptLock.VMA if self.retry_under_vma else AttemptLock.MMAP_READ


STOCK = BuiltinPolicy(
    "stock", "Linux 6.4-6.18: VMA lock; drop it for I/O; retry under mmap_lock read",
    use_vma_lock=True, drop_for_io=True, retry_under_vma=False)
RETRY_VMA = BuiltinPolicy(
    "retry-vma", "RFC/v2 1-2: after the I/O wait, retry under the VMA lock again",
    use_vma_lock=True, drop_for_io=True, retry_under_vma=True)
RETRY_VMA_UPTODATE = BuiltinPolicy(
    "retry-vma-uptodate", "v2 1-5: retry-vma, and wait for an uptodate folio's lock without dropping",
    use_vma_lock=True, drop_for_io=True, retry_under_vma=True, drop_if_uptodate=False)
HOLD_VMA = BuiltinPolicy(
    "hold-vma", "Wilcox: never drop for I/O; sleep holding the VMA lock (or mmap_lock on fallback)",
    use_vma_lock=True, drop_for_io=False, retry_under_vma=True)
MMAP_ONLY = BuiltinPolicy(
    "mmap-only", "before 6.4: every fault takes mmap_lock read, drops it for I/O, retries under it",
    use_vma_lock=False, drop_for_io=True, retry_under_vma=False)
HOLD_MMAP = BuiltinPolicy(
    "hold-mmap", "pre-retry era: mmap_lock read held across the whole fault, I/O included",
    use_vma_lock=False, drop_for_io=False, retry_under_vma=False)

BUILTIN_POLICIES: tuple[BuiltinPolicy, ...] = (
    STOCK, RETRY_VMA, RETRY_VMA_UPTODATE, HOLD_VMA, MMAP_ONLY, HOLD_MMAP)


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    policy: Policy
    origin: str  # "built-in" or the entry point's "module:attr"


def available_policies(
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> dict[str, PolicyInfo]:
    """Every policy by id: the built-ins, then the `faulttui.policies` entry points.

    A third-party policy cannot replace a built-in id; one that fails to load or does not
    follow the protocol raises UsageError naming the entry point.
    """
    policies = {policy.id: PolicyInfo(policy, "built-in") for policy in BUILTIN_POLICIES}
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for entry_point in sorted(entry_points, key=lambda ep: ep.name):
        if entry_point.name in policies:
            if policies[entry_point.name].origin == "built-in":
                continue  # the built-ins may also be registered under their own ids
            raise UsageError(f"policy {entry_point.name!r} is registered twice")
        policies[entry_point.name] = PolicyInfo(_load(entry_point), entry_point.value)
    return policies


def _load(entry_point: importlib.metadata.EntryPoint) -> Policy:
    where = f"entry point {entry_point.name!r} ({entry_point.value})"
    try:
        loaded = entry_point.load()
        policy = loaded() if isinstance(loaded, type) else loaded
    except Exception as error:  # a broken plug-in must not look like a faulttui crash
        raise UsageError(f"cannot load policy {where}: {error}") from error
    if not isinstance(policy, Policy):
        raise UsageError(
            f"policy {where} lacks id, summary, first_lock, drops_lock or retry_lock")
    if policy.id != entry_point.name:
        raise UsageError(f"policy {where} says its id is {policy.id!r}")
    return policy


def get_policy(policy_id: str,
               entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> Policy:
    for policy in BUILTIN_POLICIES:
        if policy.id == policy_id:
            return policy
    policies = available_policies(entry_points)
    if policy_id not in policies:
        raise UsageError(
            f"unknown policy {policy_id!r} (known: {', '.join(policies)}; see `faulttui policies`)")
    return policies[policy_id].policy
