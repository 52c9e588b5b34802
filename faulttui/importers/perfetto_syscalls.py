"""Syscall events: `syscalls:sys_{enter,exit}_<name>` (generic) and `raw_syscalls` (typed).

Perfetto has typed protos only for `raw_syscalls:sys_enter/sys_exit` (a syscall number and
six raw arguments); the per-syscall `syscalls:` tracepoints, which faulttui's recordings
use, arrive as generic events. Both become the text importer's `sys_enter_<name>` (the
arguments as ints, named as the tracefs format file names them) and `sys_exit_<name>`
(`ret`, signed). Raw syscalls faulttui does not model stay `sys_enter`/`sys_exit`, raw.

clone and clone3 are read the same way (the reconstruction decides which are forks): on
x86_64 and aarch64 a raw clone's arguments are in kernel/fork.c's default SYSCALL_DEFINE5(clone)
order, flags first, so its flags are known; clone3's are behind its user pointer, here too.
"""

from __future__ import annotations

from faulttui.importers.perfetto_fields import (
    Columns,
    Decoded,
    EventDecoder,
    Fields,
    aligned,
    signed64,
)
from faulttui.importers.perfetto_schema import EventLayout

# raw_syscalls numbers of the syscalls faulttui models, with the argument names the
# syscalls:sys_enter_<name> format files use.
SYSCALL_ARGS: dict[str, tuple[str, ...]] = {
    "mmap": ("addr", "len", "prot", "flags", "fd", "off"),
    "munmap": ("addr", "len"),
    "mprotect": ("start", "len", "prot"),
    "madvise": ("start", "len_in", "behavior"),
    "brk": ("brk",),
    "mremap": ("addr", "old_len", "new_len", "flags", "new_addr"),
    "clone": ("clone_flags", "newsp", "parent_tidptr", "child_tidptr", "tls"),
    "clone3": ("uargs", "size"),
    "fork": (),
    "vfork": (),
}
SYSCALL_NUMBERS: dict[str, dict[int, str]] = {
    "x86_64": {9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk", 25: "mremap", 28: "madvise",
               56: "clone", 57: "fork", 58: "vfork", 435: "clone3"},
    "aarch64": {222: "mmap", 226: "mprotect", 215: "munmap", 214: "brk", 216: "mremap",
                233: "madvise", 220: "clone", 435: "clone3"},
}


def syscall_decoder(layout: EventLayout) -> EventDecoder:
    """sys_enter_X / sys_exit_X from the `syscalls` group: the arguments as ints, or `ret`."""
    name = layout.name
    if name.startswith("sys_exit_"):
        def decode_exit(columns: Columns, count: int) -> Decoded | None:
            if "ret" not in columns or len(columns["ret"]) != count:
                return None
            return [name] * count, [{"ret": signed64(v)} for v in columns["ret"]]

        return decode_exit
    args = [f for f in layout.fields if f != "__syscall_nr"]

    def decode_enter(columns: Columns, count: int) -> Decoded | None:
        if not aligned(columns, args, count):
            return None
        values = [columns[arg] for arg in args]
        rows = [dict(zip(args, row, strict=True)) for row in zip(*values, strict=True)]
        return [name] * count, rows

    return decode_enter


def raw_syscall_decoder(layout: EventLayout, arch: str) -> EventDecoder:
    """raw_syscalls sys_enter/sys_exit (typed: id + args): named by the syscall number."""
    numbers = SYSCALL_NUMBERS.get(arch, SYSCALL_NUMBERS["x86_64"])
    entering = layout.name == "sys_enter"

    def decode(columns: Columns, count: int) -> Decoded | None:
        ids = columns["id"]
        if len(ids) != count:
            return None
        names: list[str] = []
        rows: list[Fields] = []
        if entering:
            args = columns["args"]
            width = len(args) // count if count else 0
            if width * count != len(args):
                return None
            for index, number in enumerate(ids):
                values = args[index * width : (index + 1) * width]
                syscall = numbers.get(number)
                if syscall is None:
                    names.append("sys_enter")
                    rows.append({"raw": f"NR {number} ({', '.join(f'{v:x}' for v in values)})"})
                else:
                    names.append(f"sys_enter_{syscall}")
                    rows.append(dict(zip(SYSCALL_ARGS[syscall], values, strict=False)))
            return names, rows
        if len(columns["ret"]) != count:
            return None
        for number, ret in zip(ids, columns["ret"], strict=True):
            syscall = numbers.get(number)
            names.append("sys_exit" if syscall is None else f"sys_exit_{syscall}")
            rows.append({"raw": f"NR {number} = {ret}"} if syscall is None else {"ret": ret})
        return names, rows

    return decode
