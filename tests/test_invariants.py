"""Invariants of a reconstructed Timeline, on the real sample traces and on generated ones.

* no reader and writer hold the same mm's mmap_lock at once (half-open [acquired, released));
* every fault closes: end >= start, attempts non-empty and in order, the last attempt ends
  no later than the fault (an unfinished one: no later than the trace);
* a thread's spans are sorted and never overlap.
"""

from __future__ import annotations

import lzma
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import (
    BIGVMA,
    COLD_8T,
    SHARED_MEMCG_64T,
    TC_8T_DAT,
    TRACEFS_HEADER,
    block_issue_body,
    fault_body,
    filemap_body,
    lock_body,
    needs_trace_cmd,
    switch_body,
    tracefs_line,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faulttui.analysis.load import Recording, load_recording
from faulttui.model.timeline import AttemptOutcome, Timeline

HYPOTHESIS_SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                               database=None,
                               suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])


# --- the invariants ------------------------------------------------------------------------

def reader_writer_overlaps(timeline: Timeline) -> list[str]:
    """Moments where an mm's mmap_lock has a writer and anyone else at once."""
    by_mm: dict[str, list[tuple[int, int, int, bool]]] = defaultdict(list)
    for hold in timeline.mmap_lock_holds:
        if hold.released_ns > hold.acquired_ns:
            by_mm[hold.mm].append((hold.acquired_ns, 1, hold.tid, hold.write))
            by_mm[hold.mm].append((hold.released_ns, 0, hold.tid, hold.write))
    problems = []
    for mm, edges in by_mm.items():
        readers = writers = 0
        for ts, opening, tid, write in sorted(edges):  # releases sort before acquisitions
            delta = 1 if opening else -1
            if write:
                writers += delta
            else:
                readers += delta
            if writers > 1 or (writers and readers):
                problems.append(f"mm {mm} at {ts}: {writers} writers, {readers} readers "
                                f"(tid {tid})")
    return problems


def unclosed_faults(timeline: Timeline) -> list[str]:
    problems = []
    for fault in timeline.faults:
        where = f"fault {fault.fault_id} (tid {fault.tid}, lines {fault.lines[:3]})"
        if fault.end_ns < fault.start_ns:
            problems.append(f"{where}: ends before it starts")
        if not fault.attempts:
            problems.append(f"{where}: no attempts")
            continue
        if fault.attempts[0].start_ns < fault.start_ns:
            problems.append(f"{where}: first attempt starts before the fault")
        for before, after in zip(fault.attempts, fault.attempts[1:], strict=False):
            if after.start_ns < before.end_ns or before.end_ns < before.start_ns:
                problems.append(f"{where}: attempts out of order")
        last = fault.attempts[-1]
        limit = timeline.end_ns if last.outcome is AttemptOutcome.UNFINISHED else fault.end_ns
        if last.end_ns > limit:
            problems.append(f"{where}: last attempt ends at {last.end_ns} > {limit}")
    return problems


def overlapping_spans(timeline: Timeline) -> list[str]:
    problems = []
    for lane in timeline.threads:
        previous_end = None
        for start, end in zip(lane.span_starts, lane.span_ends, strict=True):
            if end < start:
                problems.append(f"tid {lane.tid}: span {start}..{end} is reversed")
            if previous_end is not None and start < previous_end:
                problems.append(f"tid {lane.tid}: span at {start} starts before {previous_end}")
            previous_end = end
        if len(lane.span_states) != len(lane.span_starts):
            problems.append(f"tid {lane.tid}: span arrays differ in length")
    return problems


def assert_invariants(timeline: Timeline) -> None:
    assert reader_writer_overlaps(timeline) == []
    assert unclosed_faults(timeline) == []
    assert overlapping_spans(timeline) == []


def assert_holds_match_the_counts(recording: Recording) -> None:
    """One LockHold per successful acquisition, one TrylockFailure per failed one."""
    locks = recording.info_json()["mmap_lock"]
    holds = recording.timeline.mmap_lock_holds
    acquired = locks["acquisitions"]["read"] + locks["acquisitions"]["write"]
    assert len(holds) == acquired + locks["downgrades"]
    assert sum(hold.downgrade for hold in holds) == locks["downgrades"]
    assert sum(hold.write for hold in holds) == locks["acquisitions"]["write"]
    assert len(recording.timeline.trylock_failures) == locks["trylock_failed"]


# --- the real traces -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cold_timeline() -> Timeline:
    return load_recording(str(COLD_8T), use_cache=False).timeline


@pytest.mark.parametrize("path", [
    pytest.param(COLD_8T, id="cold-8t-writer"),
    pytest.param(BIGVMA, id="bigvma-mprotect"),
    pytest.param(SHARED_MEMCG_64T, id="memcg-64t", marks=[
        pytest.mark.slow,
        pytest.mark.skipif(not SHARED_MEMCG_64T.exists(), reason="memcg-64t is not available")]),
])
def test_real_trace_invariants(path: Path) -> None:
    recording = load_recording(str(path), use_cache=False)
    timeline = recording.timeline
    assert len(timeline.faults) > 1000
    assert len(timeline.mmap_lock_holds) > 1000
    assert_invariants(timeline)
    assert_holds_match_the_counts(recording)


@needs_trace_cmd()
def test_tc_8t_dat_faults_close() -> None:
    """tc-8t.dat has faults whose D sleep has no switch-in (faults 1625, 2038)."""
    timeline = load_recording(str(TC_8T_DAT), use_cache=False).timeline
    assert unclosed_faults(timeline) == []


@needs_trace_cmd()
def test_tc_8t_dat_other_invariants() -> None:
    recording = load_recording(str(TC_8T_DAT), use_cache=False)
    assert_invariants(recording.timeline)
    assert_holds_match_the_counts(recording)


def test_every_real_hold_is_well_formed(cold_timeline: Timeline) -> None:
    for hold in cold_timeline.mmap_lock_holds:
        assert hold.request_ns <= hold.acquired_ns <= hold.released_ns
        if hold.trylock or hold.downgrade:
            assert hold.request_ns == hold.acquired_ns


COLD_LINES = lzma.decompress(COLD_8T.read_bytes()).decode().splitlines() if COLD_8T.exists() \
    else []


@HYPOTHESIS_SETTINGS
@given(start=st.integers(12, max(12, len(COLD_LINES) - 50)), length=st.integers(50, 3000))
def test_slices_of_the_real_trace(tmp_path: Path, start: int, length: int) -> None:
    """Any window of the real trace: holds cut in half, faults without their retry, ..."""
    path = tmp_path / "slice.txt"
    path.write_text(TRACEFS_HEADER + "\n".join(COLD_LINES[start : start + length]) + "\n")
    recording = load_recording(str(path), use_cache=False, require_faults=False)
    assert_invariants(recording.timeline)
    assert_holds_match_the_counts(recording)


# --- generated traces ----------------------------------------------------------------------
# Episodes run one after another in time. A writer episode is one thread alone (the rwsem
# excludes everyone); a reader episode runs up to three faulting threads interleaved, each
# a fault of one kind of DOMAIN.md. Every D sleep is followed by the thread's switch-in.

FAULT_KINDS = ("vma-only", "fallback", "io-retry", "folio-retry", "trylock-fail",
               "nested-trylock", "tried-retry")
READ = lock_body(False)


def fault_steps(kind: str, address: int) -> list[tuple[str, str]]:
    """(event name, body) of one fault; ("switch_in", "") marks the thread's switch-in."""
    steps = [("page_fault_user", fault_body(address))]
    start = ("mmap_lock_start_locking", READ)
    acquired = ("mmap_lock_acquire_returned", lock_body(False, True))
    failed = ("mmap_lock_acquire_returned", lock_body(False, False))
    release = ("mmap_lock_released", READ)
    sleep = ("sleep_d", "")
    wake = ("switch_in", "")
    io = [("mm_filemap_fault", filemap_body(ofs=address & 0xFFFFF000)),
          ("block_rq_issue", block_issue_body(sector=address >> 12 & 0xFFFFFF))]
    if kind == "vma-only":
        steps += io[:1]
    elif kind == "fallback":
        steps += [start, acquired, release]
    elif kind == "io-retry":
        steps += [*io, sleep, wake, start, acquired, release]
    elif kind == "folio-retry":
        steps += [io[0], sleep, wake, start, acquired, release]
    elif kind == "trylock-fail":
        steps += [start, failed, start, sleep, wake, acquired, release]
    elif kind == "nested-trylock":
        steps += [acquired, release]
    elif kind == "tried-retry":
        steps += [*io, sleep, wake, start, acquired, *io, sleep, wake, release]
    return steps


def writer_steps(op: str, downgrade: bool) -> list[tuple[str, str]]:
    args = {"mmap": "addr: 0x0, len: 0x100000, prot: 0x3, flags: 0x1, fd: 0x3, off: 0x0",
            "munmap": "addr: 0x7f86cf8f7000, len: 0x100000",
            "mprotect": "start: 0x7f86cf8f7000, len: 0x1000, prot: 0x1"}[op]
    steps = [(f"sys_enter_{op}", args), ("mmap_lock_start_locking", lock_body(True)),
             ("mmap_lock_acquire_returned", lock_body(True, True))]
    if downgrade:
        steps += [("mmap_lock_acquire_returned", lock_body(False, True)),
                  ("mmap_lock_released", READ)]
    else:
        steps.append(("mmap_lock_released", lock_body(True)))
    ret = "0x7f86cf8f7000" if op == "mmap" else "0x0"
    return [*steps, (f"sys_exit_{op}", ret)]


def render_step(tid: int, cpu: int, ts_us: int, name: str, body: str) -> str:
    if name == "sleep_d":
        return tracefs_line("faultload", tid, ts_us, "sched_switch",
                            switch_body("faultload", tid, "D", "swapper/0", 0), cpu=cpu)
    if name == "switch_in":
        return tracefs_line("<idle>", 0, ts_us, "sched_switch",
                            switch_body("swapper/0", 0, "R", "faultload", tid), cpu=cpu)
    return tracefs_line("faultload", tid, ts_us, name, body, cpu=cpu)


reader = st.tuples(st.sampled_from((8164, 8165, 8166, 8167)), st.sampled_from(FAULT_KINDS),
                   st.integers(0, 0xFFFF))
episode = st.one_of(
    st.tuples(st.just("writer"), st.sampled_from(("mmap", "munmap", "mprotect")), st.booleans()),
    st.tuples(st.just("readers"),
              st.lists(reader, min_size=1, max_size=3, unique_by=lambda item: item[0]),
              st.lists(st.integers(0, 2), min_size=40, max_size=40)),
)


def build_generated_trace(episodes: list[tuple], gaps: list[int]) -> list[str]:
    lines: list[str] = []
    now = 377_000_000
    gap_index = 0

    def tick() -> int:
        nonlocal now, gap_index
        now += 1 + gaps[gap_index % len(gaps)]
        gap_index += 1
        return now

    for item in episodes:
        if item[0] == "writer":
            _, op, downgrade = item
            for name, body in writer_steps(op, downgrade):
                lines.append(render_step(8172, 1, tick(), name, body))
            continue
        _, readers, order = item
        queues = [(tid, cpu, fault_steps(kind, 0x7F86E0000000 + (offset << 12)))
                  for cpu, (tid, kind, offset) in enumerate(readers)]
        positions = [0] * len(queues)
        choice = 0
        while any(position < len(steps) for position, (_, _, steps)
                  in zip(positions, queues, strict=True)):
            pick = order[choice % len(order)] % len(queues)
            choice += 1
            while positions[pick] >= len(queues[pick][2]):
                pick = (pick + 1) % len(queues)
            tid, cpu, steps = queues[pick]
            name, body = steps[positions[pick]]
            positions[pick] += 1
            lines.append(render_step(tid, cpu, tick(), name, body))
    return lines


@HYPOTHESIS_SETTINGS
@given(episodes=st.lists(episode, min_size=1, max_size=6),
       gaps=st.lists(st.integers(0, 200), min_size=1, max_size=10))
def test_generated_trace_invariants(tmp_path: Path, episodes: list[tuple], gaps: list[int]) -> None:
    lines = build_generated_trace(episodes, gaps)
    path = tmp_path / "generated.txt"
    path.write_text(TRACEFS_HEADER + "\n".join(lines) + "\n")
    recording = load_recording(str(path), use_cache=False, require_faults=False)
    assert recording.stats.warnings == []
    assert_invariants(recording.timeline)
    assert_holds_match_the_counts(recording)
    info = recording.info_json()
    writers = sum(1 for item in episodes if item[0] == "writer")
    downgrades = sum(1 for item in episodes if item[0] == "writer" and item[2])
    faults = sum(len(item[1]) for item in episodes if item[0] == "readers")
    assert info["faults"]["total"] == faults
    assert info["mmap_lock"]["acquisitions"]["write"] == writers
    assert info["mmap_lock"]["downgrades"] == downgrades
    assert len(recording.timeline.writer_ops) == writers
    assert all(hold.released for hold in recording.timeline.mmap_lock_holds)
