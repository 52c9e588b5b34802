"""`/` search: a tid, a comm, a fault address or a VMA -> the thread (and fault) to select
(pure; no textual)."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass

from faulttui.model.timeline import Fault
from faulttui.tui.timeline_index import TimelineIndex

PAGE_SHIFT = 12
_VMA_ID = re.compile(r"vma\s*[:#]?\s*(\d+)")


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


def vma_ids_matching(index: TimelineIndex, text: str) -> set[int]:
    """VMAs named by id ('vma 12', as the detail pane prints them) or by file path."""
    match = _VMA_ID.fullmatch(text)
    if match is not None:
        return {int(match.group(1))}
    return {vma.vma_id for vma in index.timeline.vmas if vma.path and text in vma.path.lower()}


def first_fault_in(faults: Sequence[Fault], vma_ids: set[int],
                   visible_tids: Sequence[int]) -> Fault | None:
    """The earliest fault in one of `vma_ids`, of a shown thread if there is one."""
    shown = set(visible_tids)
    hits = [fault for fault in faults if fault.vma_id in vma_ids]
    return min(hits, key=lambda fault: (fault.tid not in shown, fault.start_ns), default=None)


def search(index: TimelineIndex, query: str, visible_tids: Sequence[int]) -> SearchHit | None:
    """In order: an address (0x...), a tid, 'vma N', a comm, a VMA's file path."""
    text = query.strip()
    if not text:
        return None
    address = parse_address(text)
    if address is not None:
        fault = fault_at_address(index.timeline.faults, address)
        return SearchHit(fault.tid, fault) if fault is not None else None
    if text.isdigit() and int(text) in index.lane_by_tid:
        return SearchHit(int(text))
    wanted = text.lower()
    if _VMA_ID.fullmatch(wanted) is None:
        shown = set(visible_tids)
        ordered = [*visible_tids, *(tid for tid in index.lane_by_tid if tid not in shown)]
        for tid in ordered:
            if wanted in index.lane_by_tid[tid].comm.lower():
                return SearchHit(tid)
    fault = first_fault_in(index.timeline.faults, vma_ids_matching(index, wanted), visible_tids)
    return SearchHit(fault.tid, fault) if fault is not None else None
