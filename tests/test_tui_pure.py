"""Pure helpers behind the TUI (no textual app running): fast unit tests."""

from __future__ import annotations

import lzma
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from faulttui.cli.open_cmd import sample_trace_path
from faulttui.model.metrics import compute_metrics
from faulttui.model.timeline import Fault, LockHold, SpanState, ThreadLane, Timeline, Vma
from faulttui.tui.detail import ReplayedFault, describe_replayed, describe_span
from faulttui.tui.histograms import bar
from faulttui.tui.lanes import (
    NO_STATE,
    STATE_OF_RANK,
    column_maxima,
    column_ranks,
    importance_ranks,
    lock_occupancy,
)
from faulttui.tui.replays import delta_text
from faulttui.tui.search import SearchHit, parse_address, search
from faulttui.tui.session import ThreadRow, placeholder_rows, thread_rows
from faulttui.tui.source_lines import TraceLineReader, is_text_trace
from faulttui.tui.status import status_line
from faulttui.tui.thread_list import visible_rows
from faulttui.tui.timeline_index import TimelineIndex
from faulttui.tui.timeline_rows import TimeWindow
from faulttui.tui.timescale import format_duration, nice_step, ruler_ticks

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces" / "cold-8t-writer.txt.xz"


def lane(spans: list[tuple[int, int, SpanState]]) -> ThreadLane:
    return ThreadLane(
        tid=1, tgid=1, comm="t", prio=120,
        span_starts=array("q", [start for start, _, _ in spans]),
        span_ends=array("q", [end for _, end, _ in spans]),
        span_states=array("B", [int(state) for _, _, state in spans]),
    )


def states(ranks: list[int]) -> list[SpanState | None]:
    return [None if rank == NO_STATE else STATE_OF_RANK[rank] for rank in ranks]


def test_column_shows_the_state_taking_most_of_its_time() -> None:
    thread = lane([(0, 10, SpanState.USER), (10, 12, SpanState.WAIT_MMAP_READ),
                   (12, 30, SpanState.USER), (40, 50, SpanState.IO_WAIT)])
    ranks = importance_ranks(thread)
    got = states(column_ranks(thread.span_starts, thread.span_ends, ranks, 0, 10, 6))
    assert got == [SpanState.USER, SpanState.WAIT_MMAP_READ, SpanState.USER, None,
                   SpanState.IO_WAIT, None]


def test_columns_before_the_first_span_are_empty() -> None:
    thread = lane([(100, 200, SpanState.FAULT_VMA)])
    got = states(column_ranks(thread.span_starts, thread.span_ends, importance_ranks(thread),
                              0, 50, 5))
    assert got == [None, None, SpanState.FAULT_VMA, SpanState.FAULT_VMA, None]


def test_lock_occupancy_counts_writers_readers_and_waiters() -> None:
    holds = [
        LockHold("mm", 1, True, request_ns=0, acquired_ns=0, released_ns=100),
        LockHold("mm", 2, False, request_ns=10, acquired_ns=100, released_ns=150),
        LockHold("mm", 3, False, request_ns=20, acquired_ns=100, released_ns=120),
        LockHold("other", 4, True, request_ns=0, acquired_ns=0, released_ns=500),
    ]
    lock = lock_occupancy(holds, "mm")
    assert column_maxima(*lock.writers, 0, 50, 4) == [1, 1, 0, 0]
    assert column_maxima(*lock.readers, 0, 50, 4) == [0, 0, 2, 0]
    assert column_maxima(*lock.waiters, 0, 50, 4) == [2, 2, 0, 0]
    # a hand-over at one instant never shows both holders
    hand_over = lock_occupancy([LockHold("mm", 1, True, 0, 0, 100),
                                LockHold("mm", 2, True, 50, 100, 200)], "mm")
    assert column_maxima(*hand_over.writers, 0, 100, 2) == [1, 1]
    assert column_maxima(*hand_over.waiters, 0, 100, 2) == [1, 0]


def test_ruler_units_follow_the_zoom() -> None:
    assert nice_step(7) == 10 and nice_step(11) == 20 and nice_step(30) == 50
    coarse = ruler_ticks(0, 1_000_000, 100, 0)
    fine = ruler_ticks(5_000, 100, 100, 0)
    assert coarse[1][1].endswith("ms")
    assert fine[0][1].endswith("µs")
    assert format_duration(1_500_000) == "1.50 ms" and format_duration(870) == "870 ns"


def test_search_address_parsing() -> None:
    assert parse_address("0x7f00") == 0x7F00
    assert parse_address("7fab") == 0x7FAB
    assert parse_address("8164") is None
    assert parse_address("0xzz") is None


def test_thread_filter_and_sort() -> None:
    rows = [ThreadRow(10, "bash", 5, 100, 0), ThreadRow(11, "faultload", 50, 900, 70),
            ThreadRow(12, "faultload", 20, 300, 90)]
    assert [row.tid for row in visible_rows(rows, "fault", "faults", True)] == [11, 12]
    assert [row.tid for row in visible_rows(rows, "", "wait", True)] == [12, 11, 10]
    assert [row.tid for row in visible_rows(rows, "12", "tid", False)] == [12]


def test_trace_line_reader_matches_the_decompressed_text() -> None:
    with lzma.open(SAMPLE) as text:
        lines = text.read().decode().split("\n")
    reader = TraceLineReader(str(SAMPLE))
    try:
        wanted = [60_000, 3, 1_025, 1_024, 30_001, len(lines) - 1]
        got = reader.read_lines(wanted)
        assert got == {number: lines[number - 1] for number in wanted}
        assert reader.read_lines([len(lines) + 10]) == {}
    finally:
        reader.close()
    assert is_text_trace(str(SAMPLE))


def test_open_command_and_info_do_not_load_textual() -> None:
    code = ("import sys, faulttui.cli.open_cmd, faulttui.cli.info, faulttui.tui.lanes; "
            "assert 'textual' not in sys.modules, 'textual loaded'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_delta_text() -> None:
    assert delta_text(100, 100) == "="
    assert delta_text(0, 5) == "new"
    assert delta_text(200, 100) == "-50%"
    assert delta_text(1000, 1004) == "+0.4%"


def test_open_without_a_trace_uses_the_bundled_sample() -> None:
    path = Path(sample_trace_path())
    assert path.name == "cold-8t-writer.txt.xz" and path.is_file()
    assert is_text_trace(str(path))


def test_open_rejects_a_missing_trace_with_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "faulttui", "open", "/no/such/trace.txt"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "faulttui: /no/such/trace.txt: no such file"


def test_status_line_drops_the_least_important_parts_first() -> None:
    window = TimeWindow(origin_ns=0, first_column=0, ns_per_column=1_000, columns=100)
    wide = status_line(window, 5_000, 1_000, 4_000, "tid 7 worker", None, 200)
    assert wide == ("cursor +5.00 µs │ 1.00 µs/col │ view +0 ns..+100 µs │ tid 7 worker │ "
                    "A +1.00 µs B +4.00 µs │ Δ 3.00 µs")
    narrow = status_line(window, 5_000, 1_000, 4_000, "tid 7 worker", None, 60)
    assert narrow == "cursor +5.00 µs │ 1.00 µs/col │ tid 7 worker │ Δ 3.00 µs"


def test_a_short_lock_wait_does_not_paint_a_column_of_io_wait() -> None:
    thread = lane([(0, 2, SpanState.WAIT_MMAP_READ), (2, 100, SpanState.IO_WAIT)])
    got = states(column_ranks(thread.span_starts, thread.span_ends, importance_ranks(thread),
                              0, 100, 1))
    assert got == [SpanState.IO_WAIT]


def test_a_lock_wait_counts_more_than_its_time() -> None:
    thread = lane([(0, 30, SpanState.WAIT_MMAP_READ), (30, 100, SpanState.IO_WAIT)])
    got = states(column_ranks(thread.span_starts, thread.span_ends, importance_ranks(thread),
                              0, 100, 1))
    assert got == [SpanState.WAIT_MMAP_READ]


def timeline_with_vmas() -> Timeline:
    lanes = (lane([(0, 50, SpanState.USER), (50, 80, SpanState.IO_WAIT)]),)
    faults = (Fault(0, 1, "mm", 10, 20, 0x1000, vma_id=3),
              Fault(1, 1, "mm", 30, 40, 0x7000, vma_id=4),
              Fault(2, 1, "mm", 60, 70, 0x7010, vma_id=4))
    vmas = (Vma(3, "mm", 0x1000, 0x2000, "anon"),
            Vma(4, "mm", 0x7000, 0x8000, "file", "/usr/lib/libc.so.6"))
    return Timeline("recording", 0, 100, lanes, faults, (), vmas=vmas)


def test_search_by_tid_comm_address_vma_id_and_mapped_file() -> None:
    index = TimelineIndex(timeline_with_vmas())
    assert search(index, "1", [1]) == SearchHit(1)
    assert search(index, "T", [1]) == SearchHit(1)  # comm, any case
    assert search(index, "0x7010", [1]) == SearchHit(1, index.timeline.faults[2])
    assert search(index, "vma 4", [1]) == SearchHit(1, index.timeline.faults[1])
    assert search(index, "vma:3", [1]) == SearchHit(1, index.timeline.faults[0])
    assert search(index, "libc", [1]) == SearchHit(1, index.timeline.faults[1])
    assert search(index, "vma 9", [1]) is None
    assert search(index, "nothing", [1]) is None


def test_timeline_index_builds_nothing_until_asked() -> None:
    index = TimelineIndex(timeline_with_vmas())
    assert "faults_by_tid" not in vars(index) and "mm_by_tid" not in vars(index)
    assert [fault.fault_id for fault in index.faults_by_tid[1]] == [0, 1, 2]
    assert index.lock_mm(1, None) == "mm" and index.comm(1) == "t" and index.comm(9) == ""
    index.warm()
    assert {"fault_by_id", "contentions", "mms_by_activity", "slowest_fault"} <= set(vars(index))


def test_describe_span_names_the_state_under_the_cursor() -> None:
    one = lane([(0, 50, SpanState.USER), (50, 80, SpanState.IO_WAIT)])
    text = describe_span(one, 60, 0, "recording").plain
    assert text.startswith("recording: tid 1 t at +60 ns: ")
    assert f"{SpanState.IO_WAIT.label} from +50 ns for 30 ns" in text
    assert "no event here" in describe_span(one, 90, 0).plain


def test_describe_replayed_compares_latency_with_the_recording() -> None:
    recorded = Fault(5, 1, "mm", 100, 300, 0x1000)
    faster = recorded._replace(end_ns=200)
    text = describe_replayed(recorded, ReplayedFault("retry-vma", faster, 0)).plain
    assert "replayed under retry-vma" in text and "latency 100 ns (-50% vs recorded)" in text
    assert "not replayed" in describe_replayed(recorded, ReplayedFault("stock", None, 0)).plain


def test_histogram_bars_share_one_scale_per_distribution() -> None:
    assert bar(0, 10) == "·" and bar(10, 10) == "█" and bar(1, 10) == "▁" and bar(5, 10) == "▄"
    assert bar(1, 0) == "·"


def test_thread_rows_before_and_after_the_metrics() -> None:
    timeline = timeline_with_vmas()
    assert placeholder_rows(timeline) == (ThreadRow(1, "t"),)
    (row,) = thread_rows(timeline, compute_metrics(timeline))
    assert (row.faults, row.fault_p99_ns) == (3, 10)


def test_preview_delay_from_the_argument_the_environment_or_the_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from faulttui.tui.preview import PREVIEW_AFTER_S, PREVIEW_ENV, preview_after_s

    monkeypatch.delenv(PREVIEW_ENV, raising=False)
    assert preview_after_s() == PREVIEW_AFTER_S
    assert preview_after_s(0.25) == 0.25
    for text, expected in (("0", 0.0), ("2.5", 2.5), ("off", None), ("junk", PREVIEW_AFTER_S)):
        monkeypatch.setenv(PREVIEW_ENV, text)
        assert preview_after_s() == expected


def test_preview_banner_says_how_much_is_shown_and_loaded() -> None:
    from faulttui.tui.preview import banner_text

    timeline = Timeline(name="preview", start_ns=1_000, end_ns=1_000 + 250_000_000,
                        threads=(), faults=(), mmap_lock_holds=())
    text = banner_text(timeline, 0.374)
    assert text.startswith("PREVIEW: first 250 ms of the trace, 0 faults")
    assert "loading the rest... 37%" in text
