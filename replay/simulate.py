"""Replay a workload under a policy: wire the models, run the engine, build the Timeline."""

from __future__ import annotations

import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter

from faulttui.model.fault_table import FaultTable
from faulttui.model.gc_pause import gc_paused
from faulttui.model.timeline import Timeline
from replay.engine import Engine
from replay.page_cache import PageCache
from replay.params import PAGE_SIZE, ReplayParams
from replay.policies import Policy
from replay.storage import Storage
from replay.thread import ThreadRunner
from replay.workload import FaultSpec, Workload
from replay.world import World


@dataclass(frozen=True, slots=True)
class ReplayResult:
    timeline: Timeline
    events: int  # engine resumptions (simulated events)
    evictions: int


def simulate(workload: Workload, policy: Policy, params: ReplayParams | None = None,
             rng: random.Random | None = None,
             progress: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Replay `workload` under `policy`. Deterministic for (workload, policy, params, rng
    state); `rng` defaults to random.Random(params.seed)."""
    params = params or ReplayParams()
    rng = rng if rng is not None else random.Random(params.seed)
    capacity = (params.memory_limit // PAGE_SIZE if params.memory_limit is not None
                else workload.page_cache_pages)
    engine = Engine(workload.start_ns)
    vma_ids_by_mm: dict[str, list[int]] = defaultdict(list)
    for vma in workload.vmas:
        vma_ids_by_mm[vma.mm].append(vma.vma_id)
    world = World(
        engine=engine, policy=policy,
        page_cache=PageCache(capacity, workload.resident_pages, len(workload.pages)),
        # the figures over every fault that only some replays need are read lazily
        storage=Storage(rng, _FaultValues(workload, "io_ns"), params.io_latency_scale,
                        params.io_model, params.io_queue_depth, params.io_service_ns),
        wakeup_ns=params_wakeup(params, workload), rng=rng,
        map_costs=_FaultValues(workload, "map_cpu_ns"),
        typical_wake_ns=_typical_wake_ns(workload),
        vma_ids_by_mm={mm: tuple(ids) for mm, ids in vma_ids_by_mm.items()},
        pages=workload.pages,
    )
    # (a replay cut short is not frozen: its threads' generators are left in cycles)
    with gc_paused():
        return _run(workload, policy, world, progress)


def _run(workload: Workload, policy: Policy, world: World,
         progress: Callable[[int, int], None] | None) -> ReplayResult:
    engine = world.engine
    runners = [ThreadRunner(program, world) for program in workload.threads]
    for runner in runners:
        engine.start(runner, workload.start_ns)
    if progress is None:
        engine.run()
    else:
        total = workload.faults
        step_ns = max(1, (workload.end_ns - workload.start_ns) // 50)
        horizon = workload.start_ns
        while engine.pending:
            horizon += step_ns
            engine.run(until_ns=horizon)
            progress(world.faults_done, total)

    stuck = [runner.tid for runner in runners if not runner.finished]
    if stuck:
        raise RuntimeError(f"replay under {policy.id} left threads blocked forever: {stuck[:10]}")
    end_ns = max(engine.now, workload.start_ns)
    lanes = tuple(runner.lane(end_ns) for runner in runners)
    # stable sorts: ties keep the (deterministic) order the records were made in
    world.holds.sort(key=attrgetter("acquired_ns"))
    world.writer_ops.sort(key=attrgetter("start_ns"))
    world.io_requests.sort(key=attrgetter("issue_ns"))
    timeline = Timeline(
        name=policy.id, start_ns=workload.start_ns, end_ns=end_ns, threads=lanes,
        faults=FaultTable(world.faults, world.fault_positions, world.uncontended, world.pages),
        mmap_lock_holds=tuple(world.holds),
        trylock_failures=tuple(world.trylock_failures), writer_ops=tuple(world.writer_ops),
        vmas=workload.vmas, vma_source=workload.vma_source,
        io_requests=tuple(world.io_requests), evictions=world.page_cache.evictions,
    )
    return ReplayResult(timeline, engine.events, world.page_cache.evictions)


class _FaultValues:
    """One field of every fault of a workload, in program order: a pass over the faults
    made only if something iterates it."""

    __slots__ = ("field", "workload")

    def __init__(self, workload: Workload, field: str) -> None:
        self.workload = workload
        self.field = field

    def __iter__(self) -> Iterator[int]:
        value = attrgetter(self.field)
        return iter([value(op) for thread in self.workload.threads for op in thread.ops
                     if type(op) is FaultSpec])


def _typical_wake_ns(workload: Workload) -> int:
    """Read complete -> the retry running, for a fault that has none recorded: the median
    of the recorded ones (0 if none is)."""
    wakes = [op.wake_ns for thread in workload.threads for op in thread.ops
             if type(op) is FaultSpec and op.wake_ns >= 0 and op.io_ns > 0]
    return int(statistics.median(wakes)) if wakes else 0


def params_wakeup(params: ReplayParams,
                  workload: Workload) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if params.wakeup_ns is not None:
        return (params.wakeup_ns,), (params.wakeup_ns,)
    return workload.reader_wakeup_ns, workload.writer_wakeup_ns
