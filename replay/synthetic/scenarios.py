"""Built-in scenario generators (`faulttui generate SCENARIO`): parameters -> SyntheticSpec.

Each scenario reproduces a workload from the linux-mm discussion of fault retries
(docs/synthetic.md names the source and the published numbers of each).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from faulttui.errors import UsageError
from replay.synthetic.spec import (
    PAGE_SIZE,
    FileSpec,
    Loop,
    Pause,
    Scan,
    Step,
    StorageSpec,
    SyntheticSpec,
    ThreadSpec,
    VmaSpec,
    Writer,
)

MB = 1 << 20
Values = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class ScenarioParam:
    name: str  # --name on the command line (underscores become dashes)
    default: float
    help: str
    integer: bool = True
    minimum: float = 1


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    params: tuple[ScenarioParam, ...]
    build: Callable[[Values], SyntheticSpec]

    def spec(self, overrides: Mapping[str, float] | None = None) -> SyntheticSpec:
        """The scenario's spec with `overrides` (param name -> value) over the defaults."""
        values: dict[str, float] = {p.name: p.default for p in self.params}
        for name, value in (overrides or {}).items():
            param = next((p for p in self.params if p.name == name), None)
            if param is None:
                raise UsageError(f"scenario {self.name} has no parameter {name!r} "
                                 f"(it has: {', '.join(p.name for p in self.params)})")
            if value < param.minimum or (param.integer and value != int(value)):
                kind = "an integer" if param.integer else "a number"
                raise UsageError(f"--{name.replace('_', '-')}: must be {kind} >= {param.minimum}")
            values[name] = int(value) if param.integer else value
        return self.build(values)


def _i(values: Values, name: str) -> int:
    return int(values[name])


def _storage(values: Values) -> StorageSpec:
    return StorageSpec(latency_ns=int(values["io_latency_us"] * 1000), jitter=0.5)


def _common(latency_us: float = 200) -> tuple[ScenarioParam, ...]:
    return (ScenarioParam("io_latency_us", latency_us, "mean storage read latency (µs)",
                          integer=False, minimum=0.001),
            ScenarioParam("seed", 0, "seed of the random draws", minimum=0))


def ioretry(values: Values) -> SyntheticSpec:
    pages = _i(values, "file_mb") * MB // PAGE_SIZE
    round_: tuple[Step, ...] = (
        Writer("mmap", "map", hold_ns=20_000),
        Scan("map", pages, cpu_ns=1_500, map_cpu_ns=1_000,
             readahead_pages=_i(values, "readahead_kb") * 1024 // PAGE_SIZE),
        # munmap: detach under the write lock, zap the pages after mmap_write_downgrade
        Writer("munmap", "map", hold_ns=20_000, downgrade_ns=pages * _i(values, "zap_ns_per_page")),
    )
    noise = _i(values, "noise_threads")
    noise_threads: tuple[ThreadSpec, ...] = ()
    if noise:
        # another process in the memcg streaming its own files: page-cache pressure that
        # does not stop while the test's threads wait for their mmap_lock
        noise_threads = (ThreadSpec("noise", (Loop(_i(values, "rounds") * 2, (
            Scan("noise", pages, cpu_ns=1_500, map_cpu_ns=1_000),)),), count=noise,
            process=1),)
    return SyntheticSpec(
        name="ioretry", seed=_i(values, "seed"),
        description="N threads each loop mmap -> scan -> munmap of their own file "
                    "under a memory limit (Kunwu Chan / Wang Lian ioretry test)",
        files=(FileSpec("data", pages * PAGE_SIZE, per_thread=True),),
        vmas=(VmaSpec("map", "file", pages * PAGE_SIZE, "data", per_thread=True),
              VmaSpec("noise", "file", pages * PAGE_SIZE, "data", per_thread=True)),
        memory_limit=int(values["memory_limit_mb"] * MB), storage=_storage(values),
        threads=(ThreadSpec("ioretry", (Loop(_i(values, "rounds"), round_),),
                            count=_i(values, "threads"), start_jitter_ns=1_000_000),
                 *noise_threads))


def app_launch(values: Values) -> SyntheticSpec:
    libs = _i(values, "libraries")
    lib_pages = _i(values, "library_mb") * MB // PAGE_SIZE
    faults = _i(values, "faults_per_thread")
    vmas = tuple(VmaSpec(f"lib{i}", "file", lib_pages * PAGE_SIZE, f"lib{i}.so")
                 for i in range(libs))
    workers: list[ThreadSpec] = []
    for i in range(_i(values, "threads")):
        lib = f"lib{i % libs}"
        workers.append(ThreadSpec(
            f"bg-{i}", (Loop(faults, (Scan(lib, 1, "random", gap_ns=50_000),)),),
            priority=130, start_jitter_ns=5_000_000))
    urgent = (Loop(_i(values, "writer_ops"), (
        Pause("compute", 2_000_000),
        Writer("mprotect", "heap", hold_ns=30_000),
        Scan("heap", 4, "random"),
        Writer("munmap", "heap", hold_ns=40_000, downgrade_ns=20_000),
        Writer("mmap", "heap", hold_ns=15_000),
        Scan(f"lib{0}", 2, "random"),
    )),)
    readers = (Loop(_i(values, "proc_reads"), (
        Pause("sleep", 50_000), Writer("madvise", "heap", hold_ns=5_000, mode="read"),)),)
    threads = (
        ThreadSpec("main", urgent, priority=110),
        ThreadSpec("RenderThread", urgent, priority=110, start_ns=500_000),
        ThreadSpec("HeapTaskDaemon", readers, priority=124, start_ns=100_000),
        *workers,
    )
    return SyntheticSpec(
        name="app-launch", seed=_i(values, "seed"),
        description="Android-style cold start: ~100 threads of file-backed major faults, "
                    "high-priority threads doing mprotect/munmap (Douyin data, v2 cover)",
        files=tuple(FileSpec(f"lib{i}.so", lib_pages * PAGE_SIZE) for i in range(libs)),
        vmas=(*vmas, VmaSpec("heap", "anon", 8 * MB)),
        memory_limit=None, storage=_storage(values), threads=threads)


def large_vma(values: Values) -> SyntheticSpec:
    pages = _i(values, "vma_mb") * MB // PAGE_SIZE
    reader = (Loop(_i(values, "faults_per_thread"), (Scan("big", 1, "random", gap_ns=20_000),)),)
    writer = (Loop(_i(values, "writer_ops"), (
        Pause("compute", 1_000_000), Writer("mprotect", "big", hold_ns=10_000),)),)
    return SyntheticSpec(
        name="large-vma", seed=_i(values, "seed"),
        description="one VMA covering most of the address space, readers faulting with "
                    "I/O, a writer doing mprotect inside it (Suren Baghdasaryan's case)",
        files=(FileSpec("big.dat", pages * PAGE_SIZE),),
        vmas=(VmaSpec("big", "file", pages * PAGE_SIZE, "big.dat"),),
        memory_limit=_i(values, "memory_limit_mb") * MB, storage=_storage(values),
        threads=(ThreadSpec("reader", reader, count=_i(values, "threads"),
                            start_jitter_ns=100_000),
                 ThreadSpec("writer", writer, priority=110, start_ns=500_000)))


def fork_storm(values: Values) -> SyntheticSpec:
    vma_count = _i(values, "vmas")
    pages = _i(values, "vma_mb") * MB // PAGE_SIZE
    names = [f"map{i}" for i in range(vma_count)]
    reader_steps = tuple(Scan(name, 1, "random", gap_ns=20_000) for name in names)
    reader = (Loop(_i(values, "faults_per_thread") // vma_count or 1, reader_steps),)
    forker = (Loop(_i(values, "forks"), (
        Pause("compute", 2_000_000), Writer("fork", None, hold_ns=200_000),)),)
    return SyntheticSpec(
        name="fork-storm", seed=_i(values, "seed"),
        description="threads faulting with I/O while the process forks: fork write-locks "
                    "every VMA (Barry Song's Xiaomi traces, 0.44-0.51 s fork stalls)",
        files=tuple(FileSpec(f"{name}.dat", pages * PAGE_SIZE) for name in names),
        vmas=tuple(VmaSpec(name, "file", pages * PAGE_SIZE, f"{name}.dat") for name in names),
        memory_limit=_i(values, "memory_limit_mb") * MB, storage=_storage(values),
        threads=(ThreadSpec("reader", reader, count=_i(values, "threads"),
                            start_jitter_ns=100_000),
                 ThreadSpec("forker", forker, priority=110, start_ns=500_000)))


def pft(values: Values) -> SyntheticSpec:
    pages = _i(values, "region_kb") * 1024 // PAGE_SIZE
    round_: tuple[Step, ...] = (
        Writer("mmap", "region", hold_ns=5_000),
        Scan("region", pages, cpu_ns=1_000, map_cpu_ns=0),
        Writer("munmap", "region", hold_ns=5_000 + pages * 100),
    )
    return SyntheticSpec(
        name="pft", seed=_i(values, "seed"),
        description="anonymous first-touch faults at N threads, each mapping, touching and "
                    "unmapping its own region (pft-threads, per-VMA lock scalability)",
        vmas=(VmaSpec("region", "anon", pages * PAGE_SIZE, per_thread=True),),
        threads=(ThreadSpec("pft", (Loop(_i(values, "rounds"), round_),),
                            count=_i(values, "threads"), start_jitter_ns=10_000),))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ioretry", "threads loop mmap -> scan -> munmap of their own file under a memcg",
             (ScenarioParam("threads", 500, "threads, each with its own file"),
              ScenarioParam("file_mb", 16, "file size per thread (MiB)"),
              ScenarioParam("memory_limit_mb", 1024, "page cache limit (MiB, the memcg)",
                            integer=False, minimum=0.004),
              ScenarioParam("rounds", 1, "mmap/scan/munmap rounds per thread"),
              ScenarioParam("readahead_kb", 128, "read-around of a major fault (KiB; the "
                            "kernel's default ra window)", minimum=0),
              ScenarioParam("zap_ns_per_page", 250, "munmap: time to zap one page, after "
                            "mmap_write_downgrade (ns)", minimum=0),
              ScenarioParam("noise_threads", 0, "threads of a second process streaming "
                            "their own files in the same memcg", minimum=0),
              *_common()), ioretry),
    Scenario("app-launch", "Android-style cold start: ~100 threads, file-backed major faults",
             (ScenarioParam("threads", 100, "low-priority background faulting threads"),
              ScenarioParam("libraries", 20, "shared file mappings (libraries, dex, apk)"),
              ScenarioParam("library_mb", 8, "size of each mapping (MiB)"),
              ScenarioParam("faults_per_thread", 200, "faults of each background thread"),
              ScenarioParam("writer_ops", 40, "mprotect/munmap/mmap rounds of main threads"),
              ScenarioParam("proc_reads", 5700, "mmap_lock read sections that are not fault "
                            "retries (madvise, /proc), every 50 µs"),
              *_common(1000)), app_launch),
    Scenario("large-vma", "one huge VMA: readers fault with I/O, a writer mprotects inside it",
             (ScenarioParam("threads", 16, "reader threads"),
              ScenarioParam("vma_mb", 1024, "size of the VMA (MiB)"),
              ScenarioParam("memory_limit_mb", 64, "page cache limit (MiB)"),
              ScenarioParam("faults_per_thread", 500, "faults of each reader"),
              ScenarioParam("writer_ops", 50, "mprotect calls of the writer"),
              *_common(1000)), large_vma),
    Scenario("fork-storm", "threads fault with I/O while the process forks",
             (ScenarioParam("threads", 16, "reader threads"),
              ScenarioParam("vmas", 8, "file VMAs"),
              ScenarioParam("vma_mb", 64, "size of each VMA (MiB)"),
              ScenarioParam("memory_limit_mb", 64, "page cache limit (MiB)"),
              ScenarioParam("faults_per_thread", 500, "faults of each reader"),
              ScenarioParam("forks", 20, "forks"),
              *_common(1000)), fork_storm),
    Scenario("pft", "anonymous first-touch faults at N threads (VMA-lock scalability)",
             (ScenarioParam("threads", 8, "threads"),
              ScenarioParam("region_kb", 1024, "region each thread maps and touches (KiB)"),
              ScenarioParam("rounds", 20, "map/touch/unmap rounds per thread"),
              ScenarioParam("seed", 0, "seed of the random draws", minimum=0)), pft),
)


def get_scenario(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise UsageError(f"unknown scenario {name!r} "
                     f"(known: {', '.join(s.name for s in SCENARIOS)})")
