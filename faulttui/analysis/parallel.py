"""Run independent policy replays in forked worker processes, one core each.

Replays of one workload under different policies share nothing, so on a multi-core machine
`compare` hands them to children forked from this process: the workload is inherited, not
pickled, and each child sends back only what the caller keeps (the metrics, and the
timeline when asked). Results do not depend on the process that computed them: every
policy replays with its own generator seeded alike (see `compare`).

Forking is used only where it is safe and cheap: a platform with `fork` and a process with
no other thread running (a TUI runs replays in its own thread and stays sequential).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from faulttui.model.metrics import Metrics, compute_metrics
from faulttui.model.timeline import Timeline
from replay import Policy, ReplayParams, Workload, simulate

# progress(policy id, faults done, faults total)
PolicyProgress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """One policy's replay as the caller keeps it."""

    policy: str
    metrics: Metrics
    events: int
    timeline: Timeline | None  # None when the caller asked for metrics only


def run_policy(workload: Workload, policy: Policy, params: ReplayParams,
               progress: PolicyProgress | None, keep_timeline: bool) -> PolicyRun:
    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(policy.id, done, total)

    result = simulate(workload, policy, params, random.Random(params.seed),
                      report if progress is not None else None)
    return PolicyRun(policy.id, compute_metrics(result.timeline), result.events,
                     result.timeline if keep_timeline else None)


def worker_count(policies: int) -> int:
    """How many children to fork for `policies` replays (0: replay in this process)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (policies < 2 or (cores or 1) < 2 or threading.active_count() > 1
            or "fork" not in multiprocessing.get_all_start_methods()):
        return 0
    # one child per policy (up to two per core): the load evens out across the cores even
    # when the policies' replays take unequal times
    return min(policies, 2 * (cores or 1))


def run_policies(workload: Workload, policies: Sequence[Policy], params: ReplayParams,
                 progress: PolicyProgress | None, keep_timelines: bool,
                 while_waiting: Callable[[], None] = lambda: None) -> list[PolicyRun]:
    """Every policy's run, in the order given; in forked children when that pays.

    `while_waiting` runs in this process while the children replay (e.g. the recording's
    own metrics)."""
    workers = worker_count(len(policies))
    if workers == 0:
        while_waiting()
        return [run_policy(workload, policy, params, progress, keep_timelines)
                for policy in policies]
    context = multiprocessing.get_context("fork")
    connections: list[Connection] = []
    children = []
    for index in range(workers):
        receiver, sender = context.Pipe(duplex=False)
        share = list(policies[index::workers])
        child = context.Process(target=_child, args=(sender, workload, share, params,
                                                     progress is not None, keep_timelines),
                                daemon=True)
        child.start()
        sender.close()
        connections.append(receiver)
        children.append(child)
    try:
        while_waiting()
        runs = _collect(connections, progress)
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join()
    missing = [policy.id for policy in policies if policy.id not in runs]
    if missing:
        raise RuntimeError(f"replay worker exited without a result for {', '.join(missing)}")
    return [runs[policy.id] for policy in policies]


def _collect(connections: list[Connection], progress: PolicyProgress | None
             ) -> dict[str, PolicyRun]:
    runs: dict[str, PolicyRun] = {}
    open_connections = list(connections)
    while open_connections:
        for ready in wait(open_connections):
            assert isinstance(ready, Connection)
            try:
                message = ready.recv()
            except EOFError:
                open_connections.remove(ready)
                continue
            kind = message[0]
            if kind == "progress" and progress is not None:
                progress(*message[1:])
            elif kind == "run":
                runs[message[1].policy] = message[1]
            elif kind == "error":
                raise RuntimeError(f"replay worker failed:\n{message[1]}")
    return runs


def _child(sender: Connection, workload: Workload, policies: list[Policy],
           params: ReplayParams, with_progress: bool, keep_timelines: bool) -> None:
    def report(policy: str, done: int, total: int) -> None:
        sender.send(("progress", policy, done, total))

    try:
        for policy in policies:
            sender.send(("run", run_policy(workload, policy, params,
                                           report if with_progress else None, keep_timelines)))
    except KeyboardInterrupt:
        pass  # the parent got the same Ctrl-C and reports it
    except BaseException:  # the parent raises it, with this traceback
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()
