"""A replay's faults, most of them kept as columns until something reads them.

A replay of a million faults spends more time building their records (a 23-field Fault, an
Attempt and the tuple holding it) than simulating them, and the faults that took no lock
wait, no I/O and no retry are most of them. `FaultTable` keeps those *uncontended* faults
as eight values each in one flat list, and the others as records. It is a sequence of
Fault like the tuple a recording has: the first read that needs records (indexing,
iteration, equality) makes them all, once, in the order a tuple of the replay's records
would have (creation order, then a stable sort by start). Counting and the metrics read
the columns directly (`len`, `uncontended_latencies`, `start_end_bounds`).

An uncontended fault is the record
`Fault(fault_id, tid, mm, start, end, address, 0, 0, vma_id, page, (Attempt(VMA, start, end,
DONE),), cpu_ns=end - start, window_vma_only=True)`: one attempt under its VMA lock that
mapped the page at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from operator import attrgetter, sub
from typing import Any, overload

from faulttui.model.gc_pause import gc_paused
from faulttui.model.timeline import Attempt, AttemptLock, AttemptOutcome, Fault, FilePage

UNCONTENDED_FIELDS = 8  # fault_id, tid, mm, start_ns, end_ns, address, vma_id, page key
_new_record = tuple.__new__  # a NamedTuple built from a tuple of every field
_VMA = AttemptLock.VMA
_DONE = AttemptOutcome.DONE


class FaultTable(Sequence[Fault]):
    """`records`: the faults with a record, in the order they were made; `positions[i]`:
    how many uncontended faults were made before `records[i]`; `uncontended`: the flat
    columns (UNCONTENDED_FIELDS values a fault, a page key < 0 for none); `pages`: page
    key -> identity."""

    __slots__ = ("_all", "pages", "positions", "records", "uncontended")

    def __init__(self, records: list[Fault], positions: list[int], uncontended: list[Any],
                 pages: Sequence[FilePage]) -> None:
        self.records = records
        self.positions = positions
        self.uncontended = uncontended
        self.pages = pages
        self._all: tuple[Fault, ...] | None = None

    def __len__(self) -> int:
        return len(self.records) + len(self.uncontended) // UNCONTENDED_FIELDS

    @overload
    def __getitem__(self, index: int) -> Fault: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Fault, ...]: ...

    def __getitem__(self, index: int | slice) -> Fault | tuple[Fault, ...]:
        return self.as_tuple()[index]

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.as_tuple())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FaultTable):
            return self.as_tuple() == other.as_tuple()
        if isinstance(other, tuple):
            return self.as_tuple() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.as_tuple())

    def __repr__(self) -> str:
        return (f"FaultTable({len(self.records)} records, "
                f"{len(self.uncontended) // UNCONTENDED_FIELDS} uncontended)")

    def __reduce__(self) -> tuple[Any, ...]:
        return (FaultTable, (self.records, self.positions, self.uncontended, self.pages))

    def as_tuple(self) -> tuple[Fault, ...]:
        """Every fault's record, sorted by start (ties in the order they were made)."""
        if self._all is None:
            with gc_paused():  # a million new records, no cycle
                self._all = self._in_order()
        return self._all

    def _in_order(self) -> tuple[Fault, ...]:
        made: list[Fault] = []
        uncontended = self._uncontended_records()
        taken = 0
        for record, position in zip(self.records, self.positions, strict=True):
            made.extend(islice(uncontended, position - taken))
            taken = position
            made.append(record)
        made.extend(uncontended)
        made.sort(key=attrgetter("start_ns"))
        return tuple(made)

    def _uncontended_records(self) -> Iterator[Fault]:
        pages = self.pages
        values = iter(self.uncontended)
        rows = zip(*[values] * UNCONTENDED_FIELDS, strict=True)  # the flat list, a fault a row
        for fault_id, tid, mm, start, end, address, vma_id, key in rows:
            yield _new_record(Fault, (
                fault_id, tid, mm, start, end, address, 0, 0, vma_id,
                pages[key] if key >= 0 else None,
                (_new_record(Attempt, (_VMA, start, end, _DONE, 0, False, 0)),), 0, 0, 0,
                end - start, None, None, False, False, False, False, True, ()))

    def uncontended_tids(self) -> list[int]:
        """The uncontended faults' tids, one per fault."""
        return self.uncontended[1::UNCONTENDED_FIELDS]

    def uncontended_latencies(self) -> tuple[list[int], list[int]]:
        """The uncontended faults' tids and latencies (two parallel lists)."""
        columns = self.uncontended
        return (self.uncontended_tids(),
                list(map(sub, columns[4::UNCONTENDED_FIELDS], columns[3::UNCONTENDED_FIELDS])))

    def start_end_bounds(self) -> tuple[int, int] | None:
        """(first start, last end) over every fault; None when there is none."""
        columns = self.uncontended
        starts = [fault.start_ns for fault in self.records]
        ends = [fault.end_ns for fault in self.records]
        if columns:
            starts.append(min(columns[3::UNCONTENDED_FIELDS]))
            ends.append(max(columns[4::UNCONTENDED_FIELDS]))
        if not starts:
            return None
        return min(starts), max(ends)
