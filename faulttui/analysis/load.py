"""Use case: a trace path -> a reconstructed Recording, through the on-disk cache
(`recording_cache`) when the file is unchanged."""

from __future__ import annotations

import os

from faulttui.analysis.reconstruct import reconstruct
from faulttui.analysis.recording import FaultSummary, Recording, summarize_faults
from faulttui.analysis.recording_cache import cache_key, gc_paused, read_cache, write_cache
from faulttui.errors import TraceFormatError
from faulttui.importers import open_trace, sniff_format
from faulttui.importers.source import ProgressCallback, check_readable, read_head

__all__ = ["FaultSummary", "Recording", "load_recording", "load_synthetic"]


def load_recording(path: str, progress: ProgressCallback | None = None, *,
                   use_cache: bool = True, require_faults: bool = True,
                   cache_in_background: bool = False) -> Recording:
    """Import and reconstruct `path`; reuse the cached result when the file is unchanged.

    A synthetic workload (JSON) is simulated under `stock`, and that run is the recording.
    `cache_in_background`: a new cache entry may be written by a forked child while the
    caller goes on (see `write_cache`; for commands that exit when done)."""
    if os.path.isfile(path) and check_readable(path) and sniff_format(read_head(path)) == "json":
        return load_synthetic(path, progress, use_cache=use_cache)
    source = open_trace(path, progress)
    key = cache_key(path) if use_cache else None
    if key is not None:
        cached = read_cache(key)
        if cached is not None:
            return cached
    with gc_paused():
        reconstruction = reconstruct(source.events(), source.stats)
    timeline = reconstruction.timeline
    if require_faults and not timeline.faults:
        raise TraceFormatError(
            f"no page faults in {source.stats.events} events (record with the "
            "exceptions:page_fault_user event enabled, e.g. `faulttui record`)",
            path=path,
        )
    recording = Recording(
        path=path, format=source.stats.format if source.stats.format != "unknown"
        else source.format, stats=source.stats, timeline=timeline,
        lock_counts=reconstruction.lock_counts, faults=summarize_faults(timeline),
    )
    if key is not None:
        recording = write_cache(key, recording, background=cache_in_background)
    return recording


def load_synthetic(path: str, progress: ProgressCallback | None = None, *,
                   use_cache: bool = True) -> Recording:
    """A synthetic workload's simulated `stock` run as the Recording (cached like a trace)."""
    from faulttui.analysis import synthetic_source as synthetic

    key = cache_key(path) if use_cache else None
    cached = read_cache(key) if key is not None else None
    if cached is not None:
        return cached
    workload, timeline = synthetic.simulate_stock(synthetic.read_spec(path, progress), path)
    recording = Recording(path=path, format=synthetic.SYNTHETIC_FORMAT,
                          stats=synthetic.synthetic_stats(path, timeline), timeline=timeline,
                          lock_counts=synthetic.lock_counts(timeline),
                          faults=summarize_faults(timeline), workload=workload)
    if key is not None:
        recording = write_cache(key, recording)
    return recording
