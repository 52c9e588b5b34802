"""Reconstructor.snapshot and load_recording's preview: what is reconstructed so far, taken
mid-stream without changing the result (the final Recording and the cache stay the same)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faulttui.analysis.load import PREVIEW_NAME, Recording, load_recording
from faulttui.analysis.reconstruct import Reconstruction, Reconstructor
from faulttui.importers import open_trace

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "cold-8t-writer.txt.xz"


def test_snapshots_mid_stream_change_nothing_and_grow() -> None:
    plain = Reconstructor(open_trace(str(SAMPLE)).stats)
    source = open_trace(str(SAMPLE))
    plain.add_all(open_trace(str(SAMPLE)).events())
    expected = plain.finish()

    builder = Reconstructor(source.stats)
    snapshots: list[Reconstruction] = []
    builder.add_all(source.events(), lambda _: snapshots.append(builder.snapshot("so far")),
                    every=5000)
    final = builder.finish()

    assert final.timeline == expected.timeline and final.lock_counts == expected.lock_counts
    assert len(snapshots) == -(-source.stats.events // 5000)
    by_id = {fault.fault_id: fault for fault in final.timeline.faults}
    ends = [snapshot.timeline.end_ns for snapshot in snapshots]
    assert ends == sorted(ends) and ends[0] < ends[-1] <= final.timeline.end_ns
    for snapshot in snapshots:
        timeline = snapshot.timeline
        assert timeline.name == "so far"
        assert timeline.start_ns == final.timeline.start_ns
        assert all(fault.end_ns <= timeline.end_ns for fault in timeline.faults)
        assert {fault.fault_id for fault in timeline.faults} <= by_id.keys()
        assert all(hold.released_ns <= timeline.end_ns for hold in timeline.mmap_lock_holds)
        assert all(lane.span_ends[-1] <= timeline.end_ns for lane in timeline.threads
                   if len(lane.span_ends))
    counts = [len(snapshot.timeline.faults) for snapshot in snapshots]
    assert counts == sorted(counts) and 0 < counts[0] < counts[-1] <= len(by_id)


def test_load_recording_calls_preview_once_and_returns_the_same_recording() -> None:
    previews: list[Recording] = []
    with_preview = load_recording(str(SAMPLE), use_cache=False, preview=previews.append,
                                  preview_after_s=0)
    plain = load_recording(str(SAMPLE), use_cache=False)
    assert with_preview == plain and with_preview.info_json() == plain.info_json()
    assert not with_preview.partial and with_preview.loaded_fraction == 1.0
    assert len(previews) == 1
    preview = previews[0]
    assert preview.partial and 0 < preview.loaded_fraction < 1
    assert preview.timeline.name == PREVIEW_NAME
    assert 0 < len(preview.timeline.faults) < len(plain.timeline.faults)
    assert preview.timeline.end_ns < plain.timeline.end_ns


def test_no_preview_from_the_cache_or_after_a_quick_load() -> None:
    previews: list[Recording] = []
    first = load_recording(str(SAMPLE), preview=previews.append, preview_after_s=60)
    cached = load_recording(str(SAMPLE), preview=previews.append, preview_after_s=0)
    assert cached.from_cache and cached == first
    assert previews == []


def test_reconstructed_reports_growing_shares_and_can_abort_the_load() -> None:
    shares: list[float] = []
    load_recording(str(SAMPLE), use_cache=False, reconstructed=shares.append)
    assert shares == sorted(shares) and 0 < shares[0] < 0.2 and 0.95 < shares[-1] <= 1

    class Stop(Exception):
        pass

    def stop_halfway(share: float) -> None:
        if share > 0.5:
            raise Stop()

    with pytest.raises(Stop):
        load_recording(str(SAMPLE), reconstructed=stop_halfway)
    assert not load_recording(str(SAMPLE)).from_cache  # nothing was cached
