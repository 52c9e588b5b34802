"""A synthetic spec -> a `replay.workload.Workload` (deterministic for the spec's seed).

Every thread instance becomes a ThreadProgram with a flat tuple of operations: loops are
unrolled, a scan becomes one FaultSpec per touched page, sleeps and compute become the
next operation's `gap_ns` (a pause at the very end of a program is dropped: nothing follows
it). All threads share one process (one mm); per-thread VMAs and files get one copy per
thread instance. Storage latencies are drawn per fault from the spec's model.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from faulttui.errors import TraceFormatError
from faulttui.model.gc_pause import gc_paused
from faulttui.model.timeline import FilePage, Vma
from replay.params import ReplayParams
from replay.storage import OBSERVED, QUEUE
from replay.synthetic.spec import (
    PAGE_SIZE,
    Loop,
    Pause,
    Scan,
    Step,
    SyntheticSpec,
    ThreadSpec,
    VmaSpec,
    Writer,
)
from replay.workload import NO_PAGE, FaultSpec, Operation, ThreadProgram, Workload, WriterSpec

MM_BASE = 0x5E7A1C00  # process p's mm identity prints as a hashed %p: MM_BASE + p * 0x1000
TGID = 1000  # process p's tgid: TGID + p * 100_000
DEV = "8:0"
FIRST_INODE = 0x1000
VMA_BASE = 0x7F0000000000
VMA_ALIGN = 2 << 20  # 2 MiB between VMAs (and a guard gap)
MAX_FAULTS = 20_000_000
MAX_FILE_PAGES = 16 << 20  # 64 GiB of mapped files: every page of a used file gets a record


@dataclass(slots=True)
class _Layout:
    """VMA and file instances, made on first use: (name, owner) -> id; owner -1 = shared."""

    spec: SyntheticSpec
    path: str  # the spec's file, for errors
    vmas: list[Vma] = field(default_factory=list)
    vma_ids: dict[tuple[str, int], int] = field(default_factory=dict)
    inodes: dict[tuple[str, int], int] = field(default_factory=dict)
    first_keys: dict[int, int] = field(default_factory=dict)  # inode -> its first page's key
    pages: list[FilePage] = field(default_factory=list)  # key -> page, each file contiguous
    next_address: int = VMA_BASE

    def vma(self, name: str, owner: int, process: int) -> Vma:
        spec = self._spec(name)
        key = (name, owner if spec.per_thread else -1 - process)
        vma_id = self.vma_ids.get(key)
        if vma_id is None:
            vma_id = self.vma_ids[key] = len(self.vmas)
            start = self.next_address
            self.next_address += -(-(spec.size + PAGE_SIZE) // VMA_ALIGN) * VMA_ALIGN
            path = ""
            if spec.file is not None:
                path = f"/synthetic/{spec.file}" + (f".{owner}" if spec.per_thread else "")
            self.vmas.append(Vma(vma_id, mm_of(process), start, start + spec.size, spec.kind, path,
                                 "syscall"))
        return self.vmas[vma_id]

    def file(self, vma: VmaSpec, owner: int) -> tuple[int, int]:
        """(key of its first page, number of pages) of the file `vma` maps; every
        page of a file gets its key (contiguous) when the file is first used."""
        assert vma.file is not None
        backing = next(f for f in self.spec.files if f.name == vma.file)
        key = (vma.file, owner if backing.per_thread else -1)
        inode = self.inodes.get(key)
        size_pages = -(-backing.size // PAGE_SIZE)
        if inode is None:
            if len(self.pages) + size_pages > MAX_FILE_PAGES:
                raise TraceFormatError(
                    f"files: the threads map more than {MAX_FILE_PAGES * PAGE_SIZE >> 30} GiB "
                    "of files; scale it down", path=self.path)
            inode = self.inodes[key] = FIRST_INODE + len(self.inodes)
            self.first_keys[inode] = len(self.pages)
            self.pages.extend(FilePage(DEV, inode, index * PAGE_SIZE)
                              for index in range(size_pages))
        return self.first_keys[inode], size_pages

    def _spec(self, name: str) -> VmaSpec:
        for spec in self.spec.vmas:
            if spec.name == name:
                return spec
        raise KeyError(name)


def expand(spec: SyntheticSpec, file: str = "workload.json") -> Workload:
    """The workload `spec` describes. Same spec (seed included) -> same workload."""
    total = sum(thread.count * _faults_in(thread.program) for thread in spec.threads)
    if total > MAX_FAULTS:
        raise TraceFormatError(f"threads: the program expands to {total:,} faults "
                               f"(at most {MAX_FAULTS:,}); scale it down", path=file)
    with gc_paused(freeze=False):  # a million small long-lived records, no cycle
        return _expand(spec, total, file)


def _expand(spec: SyntheticSpec, total: int, file: str) -> Workload:
    rng = random.Random(spec.seed)
    layout = _Layout(spec, file)
    vma_specs = {vma.name: vma for vma in spec.vmas}
    programs: list[ThreadProgram] = []
    fault_ids = iter(range(1, total + 1))
    end_ns = 0
    for thread in spec.threads:
        for _ in range(thread.count):
            owner = len(programs)
            builder = _ProgramBuilder(spec, layout, vma_specs, owner, rng, fault_ids, thread)
            builder.pending_gap = thread.start_ns + (
                rng.randint(0, thread.start_jitter_ns) if thread.start_jitter_ns else 0)
            builder.steps(thread.program)
            end_ns = max(end_ns, builder.nominal_ns)
            programs.append(ThreadProgram(TGID + 1 + owner, TGID + 100_000 * thread.process,
                                          thread.name[:15],
                                          thread.priority, tuple(builder.ops)))
    pages = tuple(layout.pages)
    return Workload(
        source=spec.name, start_ns=0, end_ns=max(end_ns, 1), threads=tuple(programs),
        vmas=tuple(layout.vmas), vma_source="syscalls", pages=pages,
        page_cache_pages=spec.memory_limit // PAGE_SIZE if spec.memory_limit else None,
    )


def mm_of(process: int) -> str:
    return f"{MM_BASE + process * 0x1000:016x}"


def replay_params(spec: SyntheticSpec, seed: int | None = None) -> ReplayParams:
    """The replay knobs the spec implies (its storage model; its seed unless given)."""
    queued = spec.storage.queue_depth is not None
    return ReplayParams(
        seed=spec.seed if seed is None else seed,
        memory_limit=spec.memory_limit,
        io_model=QUEUE if queued else OBSERVED,
        io_queue_depth=spec.storage.queue_depth or 32,
        io_service_ns=None,
    )


def _faults_in(steps: tuple[Step, ...]) -> int:
    count = 0
    for step in steps:
        if isinstance(step, Scan):
            count += step.pages
        elif isinstance(step, Loop):
            count += step.times * _faults_in(step.body)
    return count


class _ProgramBuilder:
    """Unrolls one thread instance's program into operations."""

    def __init__(self, spec: SyntheticSpec, layout: _Layout, vma_specs: dict[str, VmaSpec],
                 owner: int, rng: random.Random, fault_ids: Iterator[int],
                 thread: ThreadSpec) -> None:
        self.spec = spec
        self.layout = layout
        self.vma_specs = vma_specs
        self.owner = owner
        self.rng = rng
        self.fault_ids = fault_ids
        self.prio = thread.priority
        self.process = thread.process
        self.mm = mm_of(thread.process)
        self.ops: list[Operation] = []
        self.pending_gap = 0
        self.nominal_ns = 0  # the program's length without any waiting (for progress)
        storage = spec.storage
        self.low = int(storage.latency_ns * (1 - storage.jitter))
        self.high = int(storage.latency_ns * (1 + storage.jitter))

    def steps(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            if isinstance(step, Scan):
                self.scan(step)
            elif isinstance(step, Writer):
                self.writer(step)
            elif isinstance(step, Pause):
                self.pending_gap += step.ns
                self.nominal_ns += step.ns
            else:
                for _ in range(step.times):
                    self.steps(step.body)

    def take_gap(self) -> int:
        gap, self.pending_gap = self.pending_gap, 0
        return gap

    def scan(self, step: Scan) -> None:
        vma_spec = self.vma_specs[step.vma]
        vma = self.layout.vma(step.vma, self.owner, self.process)
        pages = vma_spec.size // PAGE_SIZE
        anon = vma_spec.kind == "anon"
        first_key = file_pages = 0
        if not anon:
            first_key, file_pages = self.layout.file(vma_spec, self.owner)
        file_end = first_key + file_pages
        readahead = step.readahead_pages
        rng = self.rng
        append = self.ops.append
        fault_ids = self.fault_ids
        low, spread = self.low, self.high - self.low
        first_index = vma_spec.offset // PAGE_SIZE
        random_ = rng.random
        sequential = step.order == "sequential"
        mm, vma_id, start, prio = self.mm, vma.vma_id, vma.start, self.prio
        cpu_ns, map_cpu_ns = step.cpu_ns, step.map_cpu_ns
        gap = self.take_gap()
        nominal = 0
        for touch in range(step.pages):
            index = ((step.start_page + touch) % pages if sequential
                     else int(random_() * pages))
            key = NO_PAGE
            io_ns = readahead_end = 0
            if not anon:
                key = first_key + first_index + index
                io_ns = low + int(random_() * (spread + 1)) if spread > 0 else low
                if readahead > 1:
                    readahead_end = min(file_end, key + readahead)
            append(FaultSpec(gap, next(fault_ids), mm, start + index * PAGE_SIZE, vma_id, anon,
                             key, False, io_ns, cpu_ns, map_cpu_ns, prio,
                             readahead_end_key=readahead_end))
            nominal += gap + cpu_ns + io_ns
            gap = step.gap_ns
        self.nominal_ns += nominal

    def writer(self, step: Writer) -> None:
        vma_ids: tuple[int, ...] = ()
        addr = length = 0
        if step.vma is not None:
            vma = self.layout.vma(step.vma, self.owner, self.process)
            vma_ids = (vma.vma_id,)
            addr, length = vma.start, vma.end - vma.start
        mode = {"write": "write", "read": "read", "vma": "none"}[step.mode]
        self.ops.append(WriterSpec(
            self.take_gap(), step.op, self.mm, addr, length, vma_ids, step.before_ns, step.hold_ns,
            step.after_ns, step.downgrade_ns, 0 if step.op != "mmap" else addr, mode))
        self.nominal_ns += step.before_ns + step.hold_ns + step.after_ns
