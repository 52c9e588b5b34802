"""Pure helpers behind the timeline: state importance, per-column reduction, lock occupancy.

No textual here, so everything is unit-testable and the Line API widget stays thin. Spans of
a lane are sorted and never overlap, so both `span_starts` and `span_ends` are sorted and a
column's spans are found with two bisects, and the column shows the state that takes most
of its time (lock waits weighted up; see `column_ranks`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import NamedTuple

from faulttui.model.timeline import Fault, LockHold, SpanState, ThreadLane, Timeline

NO_STATE = -1
"""A column where the thread has no span (before its first or after its last event)."""

# Most important first: what a column shows when several states share it.
STATES_BY_IMPORTANCE: tuple[SpanState, ...] = (
    SpanState.WAIT_MMAP_WRITE,
    SpanState.WAIT_MMAP_READ,
    SpanState.IO_WAIT_HOLDING_MMAP,
    SpanState.HOLD_MMAP_WRITE,
    SpanState.IO_WAIT_HOLDING_VMA,
    SpanState.FAULT_MMAP_READ,
    SpanState.IO_WAIT,
    SpanState.HOLD_MMAP_READ,
    SpanState.FAULT_VMA,
    SpanState.SYSCALL,
    SpanState.RUNNABLE,
    SpanState.SLEEP,
    SpanState.USER,
)

# rank: higher = more important, so a column's state is max() of its spans' ranks.
_RANK_OF_STATE = {state: len(STATES_BY_IMPORTANCE) - index
                  for index, state in enumerate(STATES_BY_IMPORTANCE)}
STATE_OF_RANK: dict[int, SpanState] = {rank: state for state, rank in _RANK_OF_STATE.items()}
_RANK_TABLE = bytes(_RANK_OF_STATE.get(SpanState(code), 0) if code in SpanState._value2member_map_
                    else 0 for code in range(256))

# One glyph per state, so the timeline reads without colour (NO_COLOR, monochrome terminals).
GLYPHS: dict[SpanState, str] = {
    SpanState.USER: "─",
    SpanState.FAULT_VMA: "v",
    SpanState.FAULT_MMAP_READ: "m",
    SpanState.WAIT_MMAP_READ: "w",
    SpanState.WAIT_MMAP_WRITE: "W",
    SpanState.HOLD_MMAP_WRITE: "H",
    SpanState.IO_WAIT: "i",
    SpanState.IO_WAIT_HOLDING_VMA: "I",
    SpanState.IO_WAIT_HOLDING_MMAP: "!",
    SpanState.RUNNABLE: ":",
    SpanState.SLEEP: ".",
    SpanState.HOLD_MMAP_READ: "h",
    SpanState.SYSCALL: "s",
}

STATE_COLOURS: dict[SpanState, str] = {
    SpanState.USER: "grey50",
    SpanState.FAULT_VMA: "black on green",
    SpanState.FAULT_MMAP_READ: "black on yellow",
    SpanState.WAIT_MMAP_READ: "bold white on red",
    SpanState.WAIT_MMAP_WRITE: "bold white on magenta",
    SpanState.HOLD_MMAP_WRITE: "bold white on blue",
    SpanState.IO_WAIT: "black on cyan",
    SpanState.IO_WAIT_HOLDING_VMA: "black on bright_cyan",
    SpanState.IO_WAIT_HOLDING_MMAP: "bold white on dark_orange3",
    SpanState.RUNNABLE: "grey70",
    SpanState.SLEEP: "grey35",
    SpanState.HOLD_MMAP_READ: "black on bright_yellow",
    SpanState.SYSCALL: "white on grey30",
}


def importance_ranks(lane: ThreadLane) -> bytes:
    """One byte per span: its state's importance rank (see STATES_BY_IMPORTANCE)."""
    return lane.span_states.tobytes().translate(_RANK_TABLE)


# Lock waits are what faulttui is about: in a column they count this many times their time.
WAIT_WEIGHT = 4
# A column with more spans than this is judged on an evenly strided sample of them.
MAX_SPANS_WEIGHED = 12
_WAIT_RANKS = frozenset({_RANK_OF_STATE[SpanState.WAIT_MMAP_WRITE],
                         _RANK_OF_STATE[SpanState.WAIT_MMAP_READ]})


def column_ranks(starts: Sequence[int], ends: Sequence[int], ranks: bytes, view_start_ns: int,
                 ns_per_column: int, columns: int) -> list[int]:
    """The state of each column as a rank, NO_STATE where there is no span.

    A column shows the state that takes most of its time, lock waits weighted
    WAIT_WEIGHT times, ties to the more important state. (The most important state alone
    would paint every column of a trace where each of many faults waits one microsecond
    for mmap_lock as "waiting", when the threads are in fact asleep for I/O.)
    """
    result = [NO_STATE] * columns
    count = len(starts)
    if count == 0:
        return result
    first = bisect_right(ends, view_start_ns)  # first span ending after the view start
    for column in range(columns):
        column_start = view_start_ns + column * ns_per_column
        column_end = column_start + ns_per_column
        first = bisect_right(ends, column_start, first)
        if first >= count:
            break
        stop = bisect_left(starts, column_end, first)
        if stop - first == 1:
            result[column] = ranks[first]
        elif stop > first:
            result[column] = _weighed_rank(starts, ends, ranks, first, stop, column_start,
                                           column_end)
    return result


def _weighed_rank(starts: Sequence[int], ends: Sequence[int], ranks: bytes, first: int,
                  stop: int, column_start: int, column_end: int) -> int:
    step = max(1, (stop - first) // MAX_SPANS_WEIGHED)
    weight_by_rank: dict[int, int] = {}
    for index in range(first, stop, step):
        rank = ranks[index]
        overlap = min(ends[index], column_end) - max(starts[index], column_start)
        if rank in _WAIT_RANKS:
            overlap *= WAIT_WEIGHT
        weight_by_rank[rank] = weight_by_rank.get(rank, 0) + overlap * step
    return max(weight_by_rank, key=lambda rank: (weight_by_rank[rank], rank))


class Steps(NamedTuple):
    """A step function: from times[k] on, the value is values[k]. Equal times may repeat
    (the last one holds); their values never exceed the settled one (see `_steps`)."""

    times: array[int]
    values: array[int]


@dataclass(frozen=True, slots=True)
class LockOccupancy:
    """mmap_lock of one mm over time: its writers (0/1), readers and queued requests."""

    mm: str
    writers: Steps
    readers: Steps
    waiters: Steps
    pending: bool = False  # not computed yet (a worker is on it): drawn as unknown


def pending_occupancy(mm: str) -> LockOccupancy:
    empty = Steps(array("q"), array("q"))
    return LockOccupancy(mm, empty, empty, empty, pending=True)


def _steps(starts: list[int], ends: list[int]) -> Steps:
    """How many of the intervals [starts[k], ends[k]) are open, as a step function.

    One sort of integers that carry their +1/-1 in the low bit (an end sorts before a start
    at the same time, so a hand-over never counts both) and one running sum: a million-event
    trace's busiest mm takes tens of milliseconds, not a second of Python per event.
    """
    keys = sorted([time * 2 + 1 for time in starts] + [time * 2 for time in ends])
    return Steps(array("q", [key >> 1 for key in keys]),
                 array("q", accumulate([1 if key & 1 else -1 for key in keys])))


def lock_occupancy(holds: Iterable[LockHold], mm: str) -> LockOccupancy:
    """Step functions of writer, reader count and waiter count of `mm`'s mmap_lock."""
    mine = [hold for hold in holds if hold.mm == mm]
    writes = [hold for hold in mine if hold.write]
    reads = [hold for hold in mine if not hold.write]
    waited = [hold for hold in mine if hold.acquired_ns > hold.request_ns]
    return LockOccupancy(
        mm,
        writers=_steps([hold.acquired_ns for hold in writes], [hold.released_ns for hold in writes]),
        readers=_steps([hold.acquired_ns for hold in reads], [hold.released_ns for hold in reads]),
        waiters=_steps([hold.request_ns for hold in waited], [hold.acquired_ns for hold in waited]),
    )


def column_maxima(times: Sequence[int], values: Sequence[int], view_start_ns: int,
                  ns_per_column: int, columns: int) -> list[int]:
    """The maximum of a step function over each column's time range (0 outside it)."""
    result = [0] * columns
    count = len(times)
    if count == 0:
        return result
    for column in range(columns):
        column_start = view_start_ns + column * ns_per_column
        first = max(0, bisect_right(times, column_start) - 1)
        stop = bisect_left(times, column_start + ns_per_column, first)
        stop = max(stop, first + 1)
        if times[first] >= column_start + ns_per_column:
            continue
        result[column] = max(values[first:stop])
    return result


def mm_by_tid(timeline: Timeline) -> dict[int, str]:
    """The address space each thread faulted in or locked most often (a thread that
    exec()s changes mm; its busiest one is the one worth showing)."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for hold in timeline.mmap_lock_holds:
        counts[hold.tid][hold.mm] += 1
    for fault in timeline.faults:
        counts[fault.tid][fault.mm] += 1
    return {tid: by_mm.most_common(1)[0][0] for tid, by_mm in counts.items()}


def faults_by_tid(faults: Iterable[Fault]) -> dict[int, list[Fault]]:
    """Each thread's faults sorted by start time."""
    grouped: dict[int, list[Fault]] = defaultdict(list)
    for fault in faults:
        grouped[fault.tid].append(fault)
    for thread_faults in grouped.values():
        thread_faults.sort(key=lambda fault: fault.start_ns)
    return dict(grouped)


def contended_holds(holds: Iterable[LockHold]) -> list[LockHold]:
    """mmap_lock acquisitions that had to wait (wait_ns > 0), by request time."""
    return sorted((hold for hold in holds if hold.wait_ns > 0), key=lambda hold: hold.request_ns)


def next_fault(faults: Sequence[Fault], after_ns: int, forward: bool) -> Fault | None:
    """The first fault starting after `after_ns` (forward) or the last one before it."""
    starts = [fault.start_ns for fault in faults]
    if forward:
        index = bisect_right(starts, after_ns)
        return faults[index] if index < len(faults) else None
    index = bisect_left(starts, after_ns) - 1
    return faults[index] if index >= 0 else None


def next_contention(holds: Sequence[LockHold], after_ns: int, forward: bool) -> LockHold | None:
    """The next (or previous) contended acquisition by request time."""
    starts = [hold.request_ns for hold in holds]
    if forward:
        index = bisect_right(starts, after_ns)
        return holds[index] if index < len(holds) else None
    index = bisect_left(starts, after_ns) - 1
    return holds[index] if index >= 0 else None


def fault_at(faults: Sequence[Fault], time_ns: int, tolerance_ns: int = 0) -> Fault | None:
    """The fault of a thread that covers `time_ns` (within `tolerance_ns`), if any."""
    starts = [fault.start_ns for fault in faults]
    index = bisect_right(starts, time_ns + tolerance_ns) - 1
    if index >= 0 and faults[index].end_ns >= time_ns - tolerance_ns:
        return faults[index]
    return None
