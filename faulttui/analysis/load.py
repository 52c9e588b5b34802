"""Use case: a trace path -> a reconstructed Recording, through the on-disk cache
(`recording_cache`) when the file is unchanged."""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import replace

from faulttui.analysis.reconstruct import Reconstruction, Reconstructor
from faulttui.analysis.recording import FaultSummary, Recording, summarize_faults
from faulttui.analysis.recording_cache import cache_key, read_cache, write_cache
from faulttui.errors import TraceFormatError
from faulttui.importers import Event, ImportStats, TraceSource, open_trace, sniff_format
from faulttui.importers.source import ProgressCallback, check_readable, read_head
from faulttui.importers.split_text import decompressed_size
from faulttui.model.gc_pause import gc_paused

__all__ = [
    "PREVIEW_NAME", "FaultSummary", "Recording", "load_recording", "load_synthetic",
    "store_recording",
]

PREVIEW_NAME = "preview"
"""The timeline name of a preview's Recording (the full one's is "recording")."""


def load_recording(path: str, progress: ProgressCallback | None = None, *,
                   use_cache: bool = True, require_faults: bool = True,
                   cache_in_background: bool = False, write_cache_entry: bool = True,
                   preview: Callable[[Recording], None] | None = None,
                   preview_after_s: float = 1.5,
                   reconstructed: Callable[[float], None] | None = None) -> Recording:
    """Import and reconstruct `path`; reuse the cached result when the file is unchanged.

    A synthetic workload (JSON) is simulated under `stock`, and that run is the recording.
    `cache_in_background`: a new cache entry may be written by a forked child while the
    caller goes on (see `write_cache`; for commands that exit when done).
    `write_cache_entry=False`: a new entry is left to the caller (`store_recording`), for one
    that has better things to do first (the TUI: showing the trace).
    While reconstructing (never for a cached load), in the calling thread:
    `reconstructed(fraction)` every few thousand events, with the share of the trace
    reconstructed so far (0..1; it may raise to abort the load; for a synthetic workload,
    the share of its `stock` run simulated so far), and, never for a synthetic load,
    `preview(partial)` once
    if the reconstruction still runs `preview_after_s` seconds after it started, with a
    Recording of what is reconstructed so far (`partial`, see `Reconstructor.snapshot`)."""
    if os.path.isfile(path) and check_readable(path) and sniff_format(read_head(path)) == "json":
        return load_synthetic(path, progress, use_cache=use_cache,
                              write_cache_entry=write_cache_entry, simulated=reconstructed)
    watch = _Watch(path, progress, preview, preview_after_s, reconstructed)
    source = open_trace(path, watch.progress if watch.active else progress)
    key = cache_key(path) if use_cache else None
    if key is not None:
        cached = read_cache(key)
        if cached is not None:
            return cached
    with gc_paused():
        builder = Reconstructor(source.stats)
        builder.add_all(source.events(), watch.start(source, builder) if watch.active else None)
        reconstruction = builder.finish()
        # its working state dies here, not after a fork for the cache (whose copy-on-write
        # would make every page it frees be copied first: ~0.4 s more per 1M events)
        del builder
    timeline = reconstruction.timeline
    if require_faults and not timeline.faults:
        raise TraceFormatError(
            f"no page faults in {source.stats.events} events (record with the "
            "exceptions:page_fault_user event enabled, e.g. `faulttui record`)",
            path=path,
        )
    recording = _recording(path, source, source.stats, reconstruction)
    if key is not None:
        recording = (write_cache(key, recording, background=cache_in_background)
                     if write_cache_entry else replace(recording, cache_key=key))
    return recording


def store_recording(recording: Recording) -> None:
    """Write the cache entry that `load_recording(..., write_cache_entry=False)` left to the
    caller (nothing for a recording read from the cache or loaded without it)."""
    if recording.cache_key is not None and not recording.from_cache and not recording.partial:
        write_cache(recording.cache_key, recording)


def _recording(path: str, source: TraceSource, stats: ImportStats,
               reconstruction: Reconstruction, loaded_fraction: float | None = None) -> Recording:
    """The Recording of `reconstruction`; with `loaded_fraction`, a partial one (a preview)."""
    timeline = reconstruction.timeline
    return Recording(
        path=path, format=stats.format if stats.format != "unknown" else source.format,
        stats=stats, timeline=timeline, lock_counts=reconstruction.lock_counts,
        faults=summarize_faults(timeline), partial=loaded_fraction is not None,
        loaded_fraction=1.0 if loaded_fraction is None else loaded_fraction,
    )


class _Watch:
    """load_recording's `reconstructed` and `preview`, at `add_all`'s checkpoints. How far:
    the last event's offset in the trace's text when its size is known (ftrace text, plain or
    xz), else the share of the input file's bytes read (which runs ahead of the events)."""

    def __init__(self, path: str, progress: ProgressCallback | None,
                 preview: Callable[[Recording], None] | None, after_s: float,
                 reconstructed: Callable[[float], None] | None) -> None:
        self.path = path
        self.forward = progress
        self.preview = preview
        self.after_s = after_s
        self.reconstructed = reconstructed
        self.active = preview is not None or reconstructed is not None
        self.bytes_fraction = 0.0
        self.text_size: int | None = None
        self.deadline = 0.0

    def progress(self, done_bytes: int, total_bytes: int) -> None:
        self.bytes_fraction = done_bytes / total_bytes if total_bytes else 0.0
        if self.forward is not None:
            self.forward(done_bytes, total_bytes)

    def start(self, source: TraceSource, builder: Reconstructor) -> Callable[[Event], None]:
        """The checkpoint for `builder.add_all` (the clock starts now)."""
        self.text_size = decompressed_size(self.path) if source.format == "ftrace-text" else None
        self.deadline = time.monotonic() + self.after_s

        def check(last: Event) -> None:
            fraction = (last.offset / self.text_size if self.text_size
                        else self.bytes_fraction)
            fraction = min(max(fraction, 0.0), 1.0)
            if self.reconstructed is not None:
                self.reconstructed(fraction)
            if self.preview is not None and time.monotonic() >= self.deadline:
                preview, self.preview = self.preview, None
                stats = copy.copy(source.stats)  # the import goes on filling in the original
                preview(_recording(self.path, source, stats, builder.snapshot(PREVIEW_NAME),
                                   loaded_fraction=fraction))

        return check


def load_synthetic(path: str, progress: ProgressCallback | None = None, *,
                   use_cache: bool = True, write_cache_entry: bool = True,
                   simulated: Callable[[float], None] | None = None) -> Recording:
    """A synthetic workload's simulated `stock` run as the Recording (cached like a trace).
    `simulated(share)`: how much of that run is done, now and then (as `reconstructed`)."""
    from faulttui.analysis import synthetic_source as synthetic

    key = cache_key(path) if use_cache else None
    cached = read_cache(key) if key is not None else None
    if cached is not None:
        return cached
    workload, timeline = synthetic.simulate_stock(synthetic.read_spec(path, progress), path,
                                                  simulated)
    recording = Recording(path=path, format=synthetic.SYNTHETIC_FORMAT,
                          stats=synthetic.synthetic_stats(path, timeline), timeline=timeline,
                          lock_counts=synthetic.lock_counts(timeline),
                          faults=summarize_faults(timeline), workload=workload)
    if key is not None:
        recording = (write_cache(key, recording) if write_cache_entry
                     else replace(recording, cache_key=key))
    return recording
