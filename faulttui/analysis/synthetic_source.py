"""A synthetic workload (JSON) as a trace source: its simulated `stock` run is the recording.

`load_recording` hands a file that sniffs as JSON here: parse and validate the spec, expand
it, replay it under `stock`, and describe the run the way an importer describes a trace
(the events are the ones `faulttui generate --emit ftrace` would write for it).
"""

from __future__ import annotations

from collections.abc import Callable

from faulttui.analysis.reconstruct import LockCounts
from faulttui.errors import TraceFormatError
from faulttui.importers import ImportStats
from faulttui.importers.source import ProgressCallback, iter_chunks
from faulttui.model.timeline import Timeline
from replay import Workload, get_policy, simulate
from replay.synthetic import SyntheticSpec, expand, parse_spec, replay_params
from replay.synthetic.ftrace_emit import event_counts

SYNTHETIC_FORMAT = "synthetic"


def read_spec(path: str, progress: ProgressCallback | None = None) -> SyntheticSpec:
    """The synthetic spec in `path` (optionally .gz/.xz compressed)."""
    def warn(message: str) -> None:
        raise TraceFormatError(message, path=path)

    data = b"".join(iter_chunks(path, progress, warn))
    return parse_spec(data, path)


def simulate_stock(spec: SyntheticSpec, path: str,
                   simulated: Callable[[float], None] | None = None) -> tuple[Workload, Timeline]:
    """The spec's workload and its run under `stock` (the spec's storage model and seed).
    `simulated(share)`: how much of the run is done (0..1), now and then."""
    workload = expand(spec, path)
    progress = (lambda done, total: simulated(done / total if total else 1.0)
                ) if simulated is not None else None
    try:
        result = simulate(workload, get_policy("stock"), replay_params(spec), progress=progress)
    except RuntimeError as error:  # a program that deadlocks itself is the input's fault
        raise TraceFormatError(f"the workload cannot run: {error}", path=path) from error
    return workload, result.timeline


def lock_counts(timeline: Timeline) -> LockCounts:
    """`faulttui info`'s mmap_lock counters of a simulated run."""
    holds = timeline.mmap_lock_holds
    return LockCounts(
        read=sum(1 for hold in holds if not hold.write and not hold.downgrade),
        write=sum(1 for hold in holds if hold.write),
        trylock_failed=len(timeline.trylock_failures),
        downgrades=sum(1 for hold in holds if hold.downgrade),
    )


def synthetic_stats(path: str, timeline: Timeline) -> ImportStats:
    counts = event_counts(timeline)
    return ImportStats(path=path, format=SYNTHETIC_FORMAT, events=sum(counts.values()),
                       event_counts=dict(counts))
