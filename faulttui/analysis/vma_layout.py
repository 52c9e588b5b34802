"""Where the VMAs are: from /proc/PID/maps snapshots, traced mmap/munmap syscalls, or clustering.

The kernel traces no VMA boundaries; faulttui learns them, in order of preference, from the
maps snapshots `faulttui record` writes, from `sys_enter/exit_mmap` pairs, and otherwise by
clustering fault addresses (a gap of more than `CLUSTER_GAP` starts a new region). Splits by
mprotect are not tracked: a VMA is the range it was mapped with.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from faulttui.importers.events import MapsEntry
from faulttui.model.timeline import Vma

PAGE_SIZE = 4096
CLUSTER_GAP = 2 << 20
MAP_ANONYMOUS = 0x20
NO_FD = (-1, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True, slots=True)
class VmaLayout:
    vmas: tuple[Vma, ...]
    source: str
    _starts: tuple[int, ...]

    def find(self, address: int) -> int:
        """The vma_id containing `address`, or -1 (VMAs never overlap)."""
        index = bisect_right(self._starts, address) - 1
        if index >= 0 and self.vmas[index].contains(address):
            return self.vmas[index].vma_id
        return -1

    def overlapping(self, start: int, end: int) -> tuple[int, ...]:
        return tuple(vma.vma_id for vma in self.vmas if vma.start < end and start < vma.end)

    def every_vma(self) -> tuple[int, ...]:
        """All the VMAs, as a fork write-locks them (dup_mmap: vma_start_write on each)."""
        return tuple(vma.vma_id for vma in self.vmas)


def _round_up(length: int) -> int:
    return (length + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE


def build_layout(mm: str, maps: Sequence[MapsEntry], mmaps: Iterable[tuple[int, int, bool]],
                 fault_addresses: Iterable[int]) -> VmaLayout:
    """Layout of one mm. `mmaps` are successful mmap calls: (address, length, anonymous)."""
    ranges: list[tuple[int, int, str, str, str]] = []  # start, end, kind, path, source
    sources: list[str] = []
    if maps:
        first_ts = min(entry.ts_ns for entry in maps)
        for entry in maps:
            if entry.ts_ns == first_ts:
                kind = "file" if entry.inode else "anon"
                ranges.append((entry.start, entry.end, kind, entry.path, "maps"))
        sources.append("maps")
    mapped = False
    for address, length, anonymous in mmaps:
        if address > 0 and length > 0:
            kind = "anon" if anonymous else "file"
            ranges.append((address, address + _round_up(length), kind, "", "syscall"))
            mapped = True
    if mapped:
        sources.append("syscalls")
    covered = _merge_keep_first(ranges)
    covered.sort()
    starts = [start for start, *_ in covered]
    uncovered = sorted({address & ~(PAGE_SIZE - 1) for address in fault_addresses
                        if not _covers(covered, starts, address)})
    clustered = False
    cluster_start = cluster_end = -1
    for page in uncovered:
        if cluster_start >= 0 and page - cluster_end <= CLUSTER_GAP:
            cluster_end = page + PAGE_SIZE
            continue
        if cluster_start >= 0:
            covered.append((cluster_start, cluster_end, "unknown", "", "clustered"))
        cluster_start, cluster_end = page, page + PAGE_SIZE
        clustered = True
    if cluster_start >= 0:
        covered.append((cluster_start, cluster_end, "unknown", "", "clustered"))
    if clustered:
        sources.append("clustered")
    covered.sort()
    vmas = tuple(
        Vma(vma_id=index, mm=mm, start=start, end=end, kind=kind, path=path, source=source)
        for index, (start, end, kind, path, source) in enumerate(covered)
    )
    return VmaLayout(vmas, "+".join(sources) or "none", tuple(vma.start for vma in vmas))


def _merge_keep_first(ranges: list[tuple[int, int, str, str, str]]) -> list[tuple[int, int, str, str, str]]:
    """Drop ranges that overlap an earlier kept one (a remap of the same addresses)."""
    kept: list[tuple[int, int, str, str, str]] = []
    for candidate in ranges:
        if not any(candidate[0] < other[1] and other[0] < candidate[1] for other in kept):
            kept.append(candidate)
    return kept


def _covers(ranges: Sequence[tuple[int, int, str, str, str]], starts: Sequence[int],
            address: int) -> bool:
    index = bisect_right(starts, address) - 1
    return index >= 0 and ranges[index][0] <= address < ranges[index][1]


def mmap_is_anonymous(flags: int, fd: int) -> bool:
    return bool(flags & MAP_ANONYMOUS) or fd in NO_FD
