"""Slices to well-nested begin/end event streams, one stream per Perfetto track ("lane").

Perfetto parses the slices of one track as a stack: every slice must end before (or when)
its parent ends. A timeline's intervals do not always nest (a lock wait can straddle the end
of a fault attempt, a reconstructed hold can outlive the trace), so `nest_into_lanes` puts
each slice on the first lane where it nests and opens another lane when none fits. Nothing
is clipped or dropped: every slice keeps its exact start and end.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

AnnotationValue = int | str | bool
Annotation = tuple[str, AnnotationValue]


@dataclass(frozen=True, slots=True)
class SliceSpec:
    """One slice to draw: its interval, its name and the arguments the UI shows for it."""

    start_ns: int
    end_ns: int
    name: str
    rank: int = 0  # when two slices have the same bounds, the lower rank is the parent
    annotations: tuple[Annotation, ...] = ()
    flows_out: tuple[int, ...] = ()  # flow ids that start at this slice (set on its begin)
    flows_in: tuple[int, ...] = ()  # flow ids that end at this slice (set on its end)


class Edge(enum.IntEnum):
    BEGIN = 0
    END = 1


LaneEvent = tuple[int, Edge, SliceSpec]  # (timestamp ns, begin or end, the slice)


def nest_into_lanes(slices: Iterable[SliceSpec]) -> list[list[LaneEvent]]:
    """Each lane's begin/end events in time order; lane 0 takes every slice that nests there.

    A slice with end < start is treated as zero-length at its start.
    """
    ordered = sorted(((spec.start_ns, max(spec.end_ns, spec.start_ns), spec) for spec in slices),
                     key=lambda item: (item[0], -item[1], item[2].rank))
    stacks: list[list[tuple[int, SliceSpec]]] = []  # per lane, the open slices and their ends
    lanes: list[list[LaneEvent]] = []
    for start, end, spec in ordered:
        for stack, events in zip(stacks, lanes, strict=True):
            _close_ended(stack, events, start)
            if not stack or end <= stack[-1][0]:
                stack.append((end, spec))
                events.append((start, Edge.BEGIN, spec))
                break
        else:
            stacks.append([(end, spec)])
            lanes.append([(start, Edge.BEGIN, spec)])
    for stack, events in zip(stacks, lanes, strict=True):
        _close_ended(stack, events, None)
    return lanes


def _close_ended(stack: list[tuple[int, SliceSpec]], events: list[LaneEvent],
                 now_ns: int | None) -> None:
    """Pop (and emit the end of) every open slice that ended at or before `now_ns` (all of
    them for None)."""
    while stack and (now_ns is None or stack[-1][0] <= now_ns):
        end, closed = stack.pop()
        events.append((end, Edge.END, closed))
