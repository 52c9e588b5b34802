"""`/` search: a tid, a comm or a fault address -> the thread (and fault) to select (pure)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from faulttui.model.timeline import Fault
from faulttui.tui.session import TraceSession

PAGE_SHIFT = 12


@dataclass(frozen=True, slots=True)
class SearchHit:
    tid: int
    fault: Fault | None = None


def parse_address(query: str) -> int | None:
    """0x-prefixed hex, or bare hex that contains a letter (a bare number is a tid)."""
    text = query.lower()
    if text.startswith("0x"):
        digits = text[2:]
    elif any(char in "abcdef" for char in text):
        digits = text
    else:
        return None
    if not digits or any(char not in string.hexdigits for char in digits):
        return None
    return int(digits, 16)


def fault_at_address(faults: Sequence[Fault], address: int) -> Fault | None:
    """The first fault at exactly `address`, else the first one in the same 4 KiB page."""
    same_page: Fault | None = None
    for fault in faults:
        if fault.address == address:
            return fault
        if same_page is None and fault.address >> PAGE_SHIFT == address >> PAGE_SHIFT:
            same_page = fault
    return same_page


def search(session: TraceSession, query: str, visible_tids: Sequence[int]) -> SearchHit | None:
    text = query.strip()
    if not text:
        return None
    address = parse_address(text)
    if address is not None:
        fault = fault_at_address(session.timeline.faults, address)
        return SearchHit(fault.tid, fault) if fault is not None else None
    if text.isdigit() and int(text) in session.lane_by_tid:
        return SearchHit(int(text))
    wanted = text.lower()
    shown = set(visible_tids)
    ordered = [*visible_tids, *(tid for tid in session.lane_by_tid if tid not in shown)]
    for tid in ordered:
        if wanted in session.lane_by_tid[tid].comm.lower():
            return SearchHit(tid)
    return None
