"""Raw Perfetto field values -> the normalized fields of `events.FIELD_TYPES`, a column at a time.

Perfetto records the kernel's binary fields (the tracefs `format` file), not the
`TP_printk` text: `mm` is a raw pointer, `write` is 0/1, `prev_state` is the task-state bit
mask, `s_dev` is a `dev_t`, `index` is a page index. Each `EventDecoder` turns the columns of
one event kind (raw field name -> values, see perfetto_schema.py) into event names and field
dicts shaped exactly as the text importer's (kernel-fault-path.md section 3.3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from faulttui.importers.perfetto_schema import EventLayout

Column = Sequence[Any]
Columns = Mapping[str, Column]
Fields = dict[str, Any]
Convert = Callable[[Column], list[Any]]

_U64 = 1 << 64
_S64_MAX = (1 << 63) - 1

# sched_switch prev_state (include/trace/events/sched.h, 4.14+): TASK_REPORT bits, and
# TASK_REPORT_MAX (0x100) for a preempted task, printed "R+".
TASK_STATE_LETTERS = ((0x01, "S"), (0x02, "D"), (0x04, "T"), (0x08, "t"), (0x10, "X"),
                      (0x20, "Z"), (0x40, "P"), (0x80, "I"))
TASK_REPORT_MAX = 0x100
# lock:contention_begin flags (LCB_F_* in include/trace/events/lock.h)
LOCK_CONTENTION_FLAGS = ((0x01, "SPIN"), (0x02, "READ"), (0x04, "WRITE"), (0x08, "RT"),
                         (0x10, "PERCPU"), (0x20, "MUTEX"))
IOPRIO_CLASSES = ("none", "rt", "be", "idle")
MINOR_BITS = 20


def task_state(value: int) -> str:
    letters = "|".join(letter for bit, letter in TASK_STATE_LETTERS if value & bit)
    return (letters or "R") + ("+" if value & TASK_REPORT_MAX else "")


def lock_flags(value: int) -> str:
    return "|".join(name for bit, name in LOCK_CONTENTION_FLAGS if value & bit)


def ioprio(value: int) -> str:
    klass = value >> 13
    name = IOPRIO_CLASSES[klass] if klass < len(IOPRIO_CLASSES) else str(klass)
    return f"{name},{(value >> 3) & 0x3FF},{value & 0x7}"


def signed64(value: int) -> int:
    return value - _U64 if value > _S64_MAX else value


def text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("utf-8", "replace")
    return str(value)


def raw_text(names: Sequence[str], values: Sequence[Any]) -> str:
    return " ".join(f"{name}={text(value)}" for name, value in zip(names, values, strict=True))


@dataclass
class DecodeContext:
    """Per-trace settings and caches shared by the decoders of one import."""

    page_shift: int = 12
    arch: str = "x86_64"
    caches: dict[str, dict[Any, Any]] = field(default_factory=dict)

    def cached(self, name: str, convert: Callable[[Any], Any]) -> Convert:
        """A column converter that formats each distinct value once (pointers, devs, states)."""
        cache = self.caches.setdefault(name, {})
        get = cache.get

        def convert_column(column: Column) -> list[Any]:
            out = list(map(get, column))
            if None in out:
                for value in set(column):
                    if value not in cache:
                        cache[value] = convert(value)
                out = list(map(cache.__getitem__, column))
            return out

        return convert_column

    def converters(self) -> dict[str, Convert]:
        shift = self.page_shift
        return {
            "int": list,
            "signed": lambda column: [signed64(v) for v in column],
            "bool": lambda column: [v != 0 for v in column],
            "str": lambda column: [v if type(v) is str else text(v) for v in column],
            "pointer": self.cached("pointer", lambda v: f"0x{v:x}"),
            "memcg": self.cached("memcg", text),
            "dev:": self.cached("dev:", lambda v: f"{v >> MINOR_BITS}:{v & 0xFFFFF}"),
            "dev,": self.cached("dev,", lambda v: f"{v >> MINOR_BITS},{v & 0xFFFFF}"),
            "page": lambda column: [v << shift for v in column],
            "state": self.cached("state", task_state),
            "lock_flags": self.cached("lock_flags", lock_flags),
            "hex": self.cached("hex", lambda v: f"0x{v:x}"),
            "ioprio": self.cached("ioprio", ioprio),
        }


# Normalized field <- (raw field names to try, in order; converter; default when absent).
# A default of None makes the raw field required.
Spec = tuple[tuple[str, tuple[str, ...], str, Any], ...]
_MMAP_LOCK: Spec = (
    ("mm", ("mm",), "pointer", None), ("memcg", ("memcg_id", "memcg_path"), "memcg", ""),
    ("write", ("write",), "bool", None),
)
_PAGE_CACHE: Spec = (
    ("dev", ("s_dev",), "dev:", None), ("ino", ("i_ino",), "int", None),
    ("pfn", ("pfn",), "int", None), ("ofs", ("index",), "page", None),
    ("order", ("order",), "int", 0),
)
_RECLAIM_BEGIN: Spec = (("order", ("order",), "int", None), ("gfp_flags", ("gfp_flags",), "hex", None))
_RECLAIM_END: Spec = (("nr_reclaimed", ("nr_reclaimed",), "int", None),)
SPECS: dict[str, Spec] = {
    "page_fault_user": (
        ("address", ("address",), "int", None), ("ip", ("ip",), "int", None),
        ("error_code", ("error_code",), "int", None),
    ),
    "mmap_lock_start_locking": _MMAP_LOCK,
    "mmap_lock_acquire_returned": (*_MMAP_LOCK, ("success", ("success",), "bool", None)),
    "mmap_lock_released": _MMAP_LOCK,
    "mm_filemap_fault": (
        ("dev", ("s_dev",), "dev:", None), ("ino", ("i_ino",), "int", None),
        ("ofs", ("index",), "page", None),
    ),
    "mm_filemap_add_to_page_cache": _PAGE_CACHE,
    "mm_filemap_delete_from_page_cache": _PAGE_CACHE,
    "sched_switch": (
        ("prev_comm", ("prev_comm",), "str", None), ("prev_pid", ("prev_pid",), "int", None),
        ("prev_prio", ("prev_prio",), "int", None), ("prev_state", ("prev_state",), "state", None),
        ("next_comm", ("next_comm",), "str", None), ("next_pid", ("next_pid",), "int", None),
        ("next_prio", ("next_prio",), "int", None),
    ),
    "sched_waking": (
        ("comm", ("comm",), "str", None), ("pid", ("pid",), "int", None),
        ("prio", ("prio",), "int", None), ("target_cpu", ("target_cpu",), "int", None),
    ),
    "block_rq_issue": (
        ("dev", ("dev",), "dev,", None), ("rwbs", ("rwbs",), "str", None),
        ("bytes", ("bytes",), "int", None), ("cmd", ("cmd",), "str", ""),
        ("sector", ("sector",), "int", None), ("nr_sector", ("nr_sector",), "int", None),
        ("ioprio", ("ioprio",), "ioprio", ""), ("comm", ("comm",), "str", ""),
    ),
    "block_rq_complete": (
        ("dev", ("dev",), "dev,", None), ("rwbs", ("rwbs",), "str", None),
        ("cmd", ("cmd",), "str", ""), ("sector", ("sector",), "int", None),
        ("nr_sector", ("nr_sector",), "int", None), ("ioprio", ("ioprio",), "ioprio", ""),
        ("error", ("error", "errors"), "signed", None),
    ),
    "contention_begin": (
        ("lock", ("lock_addr",), "pointer", None), ("flags", ("flags",), "lock_flags", None),
    ),
    "contention_end": (("lock", ("lock_addr",), "pointer", None), ("ret", ("ret",), "signed", None)),
    "mm_vmscan_direct_reclaim_begin": _RECLAIM_BEGIN,
    "mm_vmscan_direct_reclaim_end": _RECLAIM_END,
    "mm_vmscan_memcg_reclaim_begin": _RECLAIM_BEGIN,
    "mm_vmscan_memcg_reclaim_end": _RECLAIM_END,
}

# (names per row, fields per row) for `count` events, or None if the columns do not line up.
Decoded = tuple[list[str], list[Fields]]
EventDecoder = Callable[[Columns, int], Decoded | None]


def aligned(columns: Columns, names: Sequence[str], count: int) -> bool:
    """Whether each named column has one value per event."""
    return all(len(columns[name]) == count for name in names)


def spec_decoder(name: str, spec: Spec, layout_fields: Sequence[str],
                 converters: Mapping[str, Convert]) -> EventDecoder | None:
    """A decoder for an event faulttui models, or None if the layout lacks required fields."""
    present = set(layout_fields)
    plan: list[tuple[str, str | None, Convert, Any]] = []
    for out_name, candidates, converter, default in spec:
        source = next((c for c in candidates if c in present), None)
        if source is None and default is None:
            return None
        plan.append((out_name, source, converters[converter], default))
    # block_rq_complete's typed proto has `errors` (old Perfetto) and `error`: take the set one.
    fallback_error = "errors" if name == "block_rq_complete" and "errors" in present else None
    out_names = [out_name for out_name, *_ in plan]
    sources = [source for _, source, _, _ in plan if source is not None]

    def decode(columns: Columns, count: int) -> Decoded | None:
        if not aligned(columns, sources, count):
            return None
        converted = []
        for out_name, source, convert, default in plan:
            if source is None:
                converted.append([default] * count)
                continue
            column = columns[source]
            if out_name == "error" and fallback_error is not None:
                old = columns[fallback_error]
                if len(old) == count:
                    column = [new or older for new, older in zip(column, old, strict=True)]
            converted.append(convert(column))
        return [name] * count, list(map(dict, map(zip, repeat(out_names), zip(*converted, strict=True))))

    return decode


def raw_decoder(layout: EventLayout, malformed: bool = False) -> EventDecoder:
    """Events faulttui does not model: the name and `raw` text of the fields, counted unknown."""
    names = layout.fields

    def decode(columns: Columns, count: int) -> Decoded | None:
        present = [n for n in names if n in columns and len(columns[n]) == count]
        rows: list[Fields] = []
        for index in range(count):
            fields: Fields = {"raw": raw_text(present, [columns[n][index] for n in present])}
            if malformed:
                fields["malformed"] = True
            rows.append(fields)
        return [layout.name] * count, rows

    return decode


def guarded(decoder: EventDecoder) -> EventDecoder:
    """A decoder that answers None (not decodable in bulk) instead of raising when a trace
    gives a field another type than the kernel's format (a string `mm`, say)."""
    def decode(columns: Columns, count: int) -> Decoded | None:
        try:
            return decoder(columns, count)
        except (TypeError, ValueError, KeyError):
            return None

    return decode
