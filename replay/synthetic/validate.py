"""Read a synthetic workload from JSON, checking every value.

Errors name the JSON path of the bad value (`threads[3].program[1].pages: must be > 0`) and
are raised as `TraceFormatError(message, path=file)`: one line, exit code 2.
"""

from __future__ import annotations

from typing import Any

import orjson

from faulttui.errors import TraceFormatError
from replay.synthetic.spec import (
    MADVISE_MODES,
    PAGE_SIZE,
    SCAN_ORDERS,
    SYNTHETIC_KIND,
    SYNTHETIC_SCHEMA_VERSION,
    VMA_KINDS,
    WRITER_OPS,
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

MAX_LOOP_DEPTH = 8


class _Reader:
    """Typed field access on one JSON object, with its path for the error messages."""

    def __init__(self, value: Any, where: str, file: str) -> None:
        self.file = file
        self.where = where
        if not isinstance(value, dict):
            self.fail(where, "must be an object")
        self.value: dict[str, Any] = value

    def fail(self, where: str, message: str) -> None:
        raise TraceFormatError(f"{where or '$'}: {message}", path=self.file)

    def at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def known(self, *keys: str) -> None:
        for key in self.value:
            if key not in keys:
                self.fail(self.at(key), f"unknown key (expected one of: {', '.join(keys)})")

    def raw(self, key: str, default: Any = ..., required: bool = False) -> Any:
        if key not in self.value:
            if required or default is ...:
                self.fail(self.at(key), "is required")
            return default
        return self.value[key]

    def integer(self, key: str, default: Any = ..., minimum: int | None = 0,
                maximum: int | None = None) -> Any:
        value = self.raw(key, default)
        if value is None and default is None:
            return None
        if key not in self.value:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self.at(key), f"must be an integer, not {orjson.dumps(value).decode()}")
        if minimum is not None and value < minimum:
            self.fail(self.at(key), f"must be >= {minimum}" if minimum != 1 else "must be > 0")
        if maximum is not None and value > maximum:
            self.fail(self.at(key), f"must be <= {maximum}")
        return value

    def number(self, key: str, default: float, minimum: float, maximum: float) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(self.at(key), "must be a number")
        if not minimum <= value <= maximum:
            self.fail(self.at(key), f"must be between {minimum} and {maximum}")
        return float(value)

    def text(self, key: str, default: Any = ..., choices: tuple[str, ...] = ()) -> Any:
        value = self.raw(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or (not value and not choices and default is ...):
            self.fail(self.at(key), "must be a non-empty string")
        if choices and value not in choices:
            self.fail(self.at(key), f"must be one of: {', '.join(choices)} (not {value!r})")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            self.fail(self.at(key), "must be true or false")
        return value

    def items(self, key: str, default: Any = ...) -> list[tuple[str, Any]]:
        value = self.raw(key, default)
        if not isinstance(value, list):
            self.fail(self.at(key), "must be a list")
        return [(f"{self.at(key)}[{index}]", item) for index, item in enumerate(value)]


def parse_spec(data: bytes | str, file: str = "workload.json") -> SyntheticSpec:
    """Parse and validate a synthetic workload document."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise TraceFormatError(f"not JSON: {error}", path=file) from error
    top = _Reader(document, "", file)
    if top.value.get("kind") != SYNTHETIC_KIND:
        top.fail("kind", f'must be "{SYNTHETIC_KIND}" (this JSON is not a synthetic workload)')
    version = top.value.get("schema_version")
    if version != SYNTHETIC_SCHEMA_VERSION:
        top.fail("schema_version", f"{version!r} is not supported (this faulttui reads "
                 f"{SYNTHETIC_SCHEMA_VERSION})")
    top.known("kind", "schema_version", "name", "description", "seed", "memory_limit",
              "storage", "files", "vmas", "threads")
    files = tuple(_file(_Reader(item, where, file)) for where, item in top.items("files", []))
    vmas = tuple(_vma(_Reader(item, where, file)) for where, item in top.items("vmas", []))
    _check_references(top, files, vmas)
    vma_names = {vma.name: vma for vma in vmas}
    threads = tuple(_thread(_Reader(item, where, file), vma_names)
                    for where, item in top.items("threads"))
    if not threads:
        top.fail("threads", "must name at least one thread")
    limit = top.integer("memory_limit", None, minimum=PAGE_SIZE)
    storage = _storage(_Reader(top.raw("storage", {}), "storage", file))
    return SyntheticSpec(
        name=top.text("name", "synthetic"), threads=threads, vmas=vmas, files=files,
        memory_limit=limit, storage=storage, seed=top.integer("seed", 0),
        description=top.text("description", "", ()) or "")


def _file(r: _Reader) -> FileSpec:
    r.known("name", "size", "per_thread")
    return FileSpec(r.text("name"), r.integer("size", minimum=1),
                    r.flag("per_thread", False))


def _vma(r: _Reader) -> VmaSpec:
    r.known("name", "kind", "size", "file", "offset", "per_thread")
    kind = r.text("kind", choices=VMA_KINDS)
    size = r.integer("size", minimum=1)
    if size % PAGE_SIZE:
        r.fail(r.at("size"), f"must be a multiple of {PAGE_SIZE}")
    backing = r.text("file", None)
    if kind == "file" and backing is None:
        r.fail(r.at("file"), "is required for a file VMA")
    if kind == "anon" and backing is not None:
        r.fail(r.at("file"), "must be null for an anon VMA")
    offset = r.integer("offset", 0)
    if offset % PAGE_SIZE:
        r.fail(r.at("offset"), f"must be a multiple of {PAGE_SIZE}")
    return VmaSpec(r.text("name"), kind, size, backing, offset, r.flag("per_thread", False))


def _check_references(top: _Reader, files: tuple[FileSpec, ...],
                      vmas: tuple[VmaSpec, ...]) -> None:
    by_name: dict[str, FileSpec] = {}
    for index, spec in enumerate(files):
        if spec.name in by_name:
            top.fail(f"files[{index}].name", f"duplicate file name {spec.name!r}")
        by_name[spec.name] = spec
    seen: set[str] = set()
    for index, vma in enumerate(vmas):
        where = f"vmas[{index}]"
        if vma.name in seen:
            top.fail(f"{where}.name", f"duplicate VMA name {vma.name!r}")
        seen.add(vma.name)
        if vma.file is None:
            continue
        backing = by_name.get(vma.file)
        if backing is None:
            top.fail(f"{where}.file", f"no file named {vma.file!r} in files")
            continue
        if backing.per_thread and not vma.per_thread:
            top.fail(f"{where}.per_thread", f"must be true: file {vma.file!r} is per-thread")
        if vma.offset + vma.size > _round_up(backing.size):
            top.fail(f"{where}.size", f"offset + size exceed file {vma.file!r} "
                     f"({backing.size} bytes)")


def _round_up(size: int) -> int:
    return -(-size // PAGE_SIZE) * PAGE_SIZE


def _storage(r: _Reader) -> StorageSpec:
    r.known("latency_ns", "jitter", "queue_depth")
    return StorageSpec(r.integer("latency_ns", 200_000, minimum=1),
                       r.number("jitter", 0.0, 0.0, 1.0),
                       r.integer("queue_depth", None, minimum=1))


def _thread(r: _Reader, vmas: dict[str, VmaSpec]) -> ThreadSpec:
    r.known("name", "count", "priority", "start_ns", "start_jitter_ns", "process", "program")
    program = _steps(r, "program", vmas, 0)
    if not program:
        r.fail(r.at("program"), "must hold at least one step")
    return ThreadSpec(
        name=r.text("name"), program=program, count=r.integer("count", 1, minimum=1),
        priority=r.integer("priority", 120, minimum=0, maximum=139),
        start_ns=r.integer("start_ns", 0), start_jitter_ns=r.integer("start_jitter_ns", 0),
        process=r.integer("process", 0, maximum=1023))


def _steps(r: _Reader, key: str, vmas: dict[str, VmaSpec], depth: int) -> tuple[Step, ...]:
    if depth > MAX_LOOP_DEPTH:
        r.fail(r.at(key), f"loops nest deeper than {MAX_LOOP_DEPTH}")
    return tuple(_step(_Reader(item, where, r.file), vmas, depth)
                 for where, item in r.items(key))


def _step(r: _Reader, vmas: dict[str, VmaSpec], depth: int) -> Step:
    op = r.text("op", choices=("scan", "loop", "sleep", "compute", *WRITER_OPS))
    if op == "scan":
        r.known("op", "vma", "pages", "order", "start_page", "cpu_ns", "map_cpu_ns", "gap_ns",
                "readahead_pages")
        vma = _vma_name(r, vmas, required=True)
        assert vma is not None
        start = r.integer("start_page", 0)
        if start >= vmas[vma].size // PAGE_SIZE:
            r.fail(r.at("start_page"), f"is past the end of VMA {vma!r}")
        return Scan(vma, r.integer("pages", minimum=1), r.text("order", "sequential", SCAN_ORDERS),
                    start, r.integer("cpu_ns", 1_500), r.integer("map_cpu_ns", 1_000),
                    r.integer("gap_ns", 0), r.integer("readahead_pages", 0, maximum=4096))
    if op == "loop":
        r.known("op", "times", "body")
        body = _steps(r, "body", vmas, depth + 1)
        if not body:
            r.fail(r.at("body"), "must hold at least one step")
        return Loop(r.integer("times", minimum=1), body)
    if op in ("sleep", "compute"):
        r.known("op", "ns")
        return Pause(op, r.integer("ns"))
    r.known("op", "vma", "hold_ns", "before_ns", "after_ns", "downgrade_ns", "mode")
    vma_name = _vma_name(r, vmas, required=op != "fork")
    if op == "fork" and vma_name is not None:
        r.fail(r.at("vma"), "fork write-locks every VMA: leave it out")
    mode = r.text("mode", "write", MADVISE_MODES)
    if op != "madvise" and mode != "write":
        r.fail(r.at("mode"), "applies to madvise only")
    return Writer(op, vma_name, r.integer("hold_ns", 5_000), r.integer("before_ns", 1_000),
                  r.integer("after_ns", 1_000), r.integer("downgrade_ns", -1, minimum=-1), mode)


def _vma_name(r: _Reader, vmas: dict[str, VmaSpec], required: bool) -> str | None:
    name = r.text("vma") if required else r.text("vma", None)
    if name is not None and name not in vmas:
        r.fail(r.at("vma"), f"no VMA named {name!r} in vmas")
    return name
