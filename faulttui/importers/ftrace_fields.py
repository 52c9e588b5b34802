"""Typed field parsers for the TP_printk bodies of the tracepoints faulttui models.

Each parser takes the event body (bytes, after `name: `) and returns the typed fields, or
None when the body does not have the documented shape (the caller counts a warning and
keeps the event with its raw text). Both kernel and `trace-cmd report` renderings are
accepted; see kernel-fault-path.md section 3.3 for the formats.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Fields = dict[str, Any]
FieldParser = Callable[[bytes], Fields | None]

# page_fault_user: address=%ps ip=%ps error_code=0x%lx
_PAGE_FAULT = re.compile(rb"address=0x([0-9a-f]+) ip=0x([0-9a-f]+) error_code=0x([0-9a-f]+)")
# mmap_lock_*: mm=%p memcg_path=%s|memcg_id=%llu write=%s [success=%s]
_MMAP_LOCK = re.compile(
    rb"mm=(\S+) (?:memcg_path=(\S*)|memcg_id=(\d+)) write=(true|false)(?: success=(true|false))?\s*$"
)
# mm_filemap_fault: dev=%d:%d ino=%lx ofs=%lld
_FILEMAP_FAULT = re.compile(rb"dev=(\d+:\d+) ino=([0-9a-f]+) ofs=(\d+)\s*$")
# mm_filemap_{add_to,delete_from}_page_cache: dev %d:%d ino %lx [page=%p] pfn=0x%lx ofs=%lu [order=%u]
_PAGE_CACHE = re.compile(
    rb"dev (\d+:\d+) ino ([0-9a-f]+) (?:page=\S+ )?pfn=0x([0-9a-f]+) ofs=(\d+)(?: order=(\d+))?\s*$"
)
# sched_switch, kernel form and the trace-cmd plugin form (comm:pid [prio] S ==> comm:pid [prio])
_SCHED_SWITCH = re.compile(
    rb"prev_comm=(.*?) prev_pid=(\d+) prev_prio=(-?\d+) prev_state=(\S+) ==> "
    rb"next_comm=(.*?) next_pid=(\d+) next_prio=(-?\d+)\s*$"
)
_SCHED_SWITCH_PLUGIN = re.compile(
    rb"(.*?):(\d+) \[(-?\d+)\] (\S+) ==> (.*?):(\d+) \[(-?\d+)\]\s*$"
)
_SCHED_WAKING = re.compile(rb"comm=(.*) pid=(\d+) prio=(-?\d+) target_cpu=(\d+)\s*$")
# block_rq_issue: %d,%d %s %u (%s) %llu + %u [%s,%u,%u] [%s]
_BLOCK_ISSUE = re.compile(rb"(\d+,\d+) (\S+) (\d+) \((.*?)\) (\d+) \+ (\d+)(?: (\S+,\d+,\d+))? \[(.*)\]\s*$")
# block_rq_complete: %d,%d %s (%s) %llu + %u [%s,%u,%u] [%d]
_BLOCK_COMPLETE = re.compile(rb"(\d+,\d+) (\S+) \((.*?)\) (\d+) \+ (\d+)(?: (\S+,\d+,\d+))? \[(-?\d+)\]\s*$")
_CONTENTION_BEGIN = re.compile(rb"(\S+) \(flags=(.*)\)\s*$")
_CONTENTION_END = re.compile(rb"(\S+) \(ret=(-?\d+)\)\s*$")
_RECLAIM_BEGIN = re.compile(rb"order=(\d+) gfp_flags=(\S+)")
_RECLAIM_END = re.compile(rb"nr_reclaimed=(\d+)")
_SYSCALL_RET = re.compile(rb"^\s*(-?(?:0x[0-9a-fA-F]+|\d+))\s*$")
# Syscall arguments are hex, with or without 0x: raw tracefs printed `%lx` (`len: 10000`,
# `clone_flags: 1200011`) until print_syscall_enter switched to `%lu` below 10 and `0x%lx`
# above (`len: 0x10000`, the 6.18 traces); trace-cmd uses the format file's `0x%08lx`. A bare
# value is hex in each form (below 10 hex and decimal agree).
_SYSCALL_ARG = re.compile(rb"(\w+): (-?)(?:0x)?([0-9a-fA-F]+)(?=,|\)?\s*$)")

_U64 = 1 << 64
_S64_MAX = (1 << 63) - 1


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _int(token: bytes) -> int:
    """Decimal or 0x-hex, optionally negative."""
    if token.startswith(b"-"):
        return -_int(token[1:])
    if token.startswith(b"0x") or token.startswith(b"0X"):
        return int(token, 16)
    return int(token)


def parse_page_fault_user(body: bytes) -> Fields | None:
    match = _PAGE_FAULT.match(body)
    if match is None:
        return None
    address, ip, error_code = match.groups()
    return {"address": int(address, 16), "ip": int(ip, 16), "error_code": int(error_code, 16)}


def parse_mmap_lock(body: bytes) -> Fields | None:
    match = _MMAP_LOCK.match(body)
    if match is None:
        return None
    mm, memcg_path, memcg_id, write, success = match.groups()
    fields: Fields = {
        "mm": mm.decode("ascii", "replace"),
        "memcg": _text(memcg_path if memcg_path is not None else memcg_id),
        "write": write == b"true",
    }
    if success is not None:
        fields["success"] = success == b"true"
    return fields


def parse_mmap_lock_acquire(body: bytes) -> Fields | None:
    fields = parse_mmap_lock(body)
    if fields is None or "success" not in fields:
        return None
    return fields


def parse_mmap_lock_no_success(body: bytes) -> Fields | None:
    fields = parse_mmap_lock(body)
    if fields is None or "success" in fields:
        return None
    return fields


def parse_filemap_fault(body: bytes) -> Fields | None:
    match = _FILEMAP_FAULT.match(body)
    if match is None:
        return None
    dev, ino, ofs = match.groups()
    return {"dev": dev.decode(), "ino": int(ino, 16), "ofs": int(ofs)}


def parse_page_cache(body: bytes) -> Fields | None:
    match = _PAGE_CACHE.match(body)
    if match is None:
        return None
    dev, ino, pfn, ofs, order = match.groups()
    return {
        "dev": dev.decode(), "ino": int(ino, 16), "pfn": int(pfn, 16), "ofs": int(ofs),
        "order": int(order) if order is not None else 0,
    }


def parse_sched_switch(body: bytes) -> Fields | None:
    match = _SCHED_SWITCH.match(body) or _SCHED_SWITCH_PLUGIN.match(body)
    if match is None:
        return None
    prev_comm, prev_pid, prev_prio, prev_state, next_comm, next_pid, next_prio = match.groups()
    return {
        "prev_comm": _text(prev_comm), "prev_pid": int(prev_pid), "prev_prio": int(prev_prio),
        "prev_state": prev_state.decode("ascii", "replace"),
        "next_comm": _text(next_comm), "next_pid": int(next_pid), "next_prio": int(next_prio),
    }


def parse_sched_waking(body: bytes) -> Fields | None:
    match = _SCHED_WAKING.match(body)
    if match is None:
        return None
    comm, pid, prio, target_cpu = match.groups()
    return {"comm": _text(comm), "pid": int(pid), "prio": int(prio), "target_cpu": int(target_cpu)}


def parse_block_issue(body: bytes) -> Fields | None:
    match = _BLOCK_ISSUE.match(body)
    if match is None:
        return None
    dev, rwbs, nbytes, cmd, sector, nr_sector, ioprio, comm = match.groups()
    return {
        "dev": dev.decode(), "rwbs": rwbs.decode(), "bytes": int(nbytes), "cmd": _text(cmd),
        "sector": int(sector), "nr_sector": int(nr_sector),
        "ioprio": ioprio.decode() if ioprio is not None else "", "comm": _text(comm),
    }


def parse_block_complete(body: bytes) -> Fields | None:
    match = _BLOCK_COMPLETE.match(body)
    if match is None:
        return None
    dev, rwbs, cmd, sector, nr_sector, ioprio, error = match.groups()
    return {
        "dev": dev.decode(), "rwbs": rwbs.decode(), "cmd": _text(cmd), "sector": int(sector),
        "nr_sector": int(nr_sector), "ioprio": ioprio.decode() if ioprio is not None else "",
        "error": int(error),
    }


def parse_contention_begin(body: bytes) -> Fields | None:
    match = _CONTENTION_BEGIN.match(body)
    if match is None:
        return None
    return {"lock": match.group(1).decode("ascii", "replace"), "flags": _text(match.group(2))}


def parse_contention_end(body: bytes) -> Fields | None:
    match = _CONTENTION_END.match(body)
    if match is None:
        return None
    return {"lock": match.group(1).decode("ascii", "replace"), "ret": int(match.group(2))}


def parse_reclaim_begin(body: bytes) -> Fields | None:
    match = _RECLAIM_BEGIN.match(body)
    if match is None:
        return None
    return {"order": int(match.group(1)), "gfp_flags": _text(match.group(2))}


def parse_reclaim_end(body: bytes) -> Fields | None:
    match = _RECLAIM_END.match(body)
    if match is None:
        return None
    return {"nr_reclaimed": int(match.group(1))}


def parse_syscall_enter(body: bytes) -> Fields | None:
    """`start: 0x7f.., len: 0x10000, prot: 1` (raw) or `addr: 0x00000000, len: ...` (trace-cmd);
    `uargs: 0x7ffd85919030, size: 0x58` (clone3). Every value is hex (see _SYSCALL_ARG)."""
    args = _SYSCALL_ARG.findall(body)
    if not args and body.strip():
        return None
    return {name.decode(): -int(value, 16) if minus else int(value, 16)
            for name, minus, value in args}


def parse_clone_enter(body: bytes) -> Fields | None:
    """`clone_flags: 0x1200011, newsp: 0, parent_tidptr: 0, child_tidptr: 0x7f.., tls: 0`."""
    fields = parse_syscall_enter(body)
    if fields is None or "clone_flags" not in fields:
        return None
    return fields


def parse_syscall_exit(body: bytes) -> Fields | None:
    match = _SYSCALL_RET.match(body)
    if match is None:
        return None
    ret = _int(match.group(1))
    if ret > _S64_MAX:  # printed as unsigned long: -ENOMEM is 0xfffffffffffffff4
        ret -= _U64
    return {"ret": ret}


def field_parsers(writer_syscalls: tuple[str, ...]) -> dict[str, FieldParser]:
    """The parser for every event name faulttui types; other events are kept raw."""
    parsers: dict[str, FieldParser] = {
        "page_fault_user": parse_page_fault_user,
        "mmap_lock_start_locking": parse_mmap_lock_no_success,
        "mmap_lock_acquire_returned": parse_mmap_lock_acquire,
        "mmap_lock_released": parse_mmap_lock_no_success,
        "mm_filemap_fault": parse_filemap_fault,
        "mm_filemap_add_to_page_cache": parse_page_cache,
        "mm_filemap_delete_from_page_cache": parse_page_cache,
        "sched_switch": parse_sched_switch,
        "sched_waking": parse_sched_waking,
        "block_rq_issue": parse_block_issue,
        "block_rq_complete": parse_block_complete,
        "contention_begin": parse_contention_begin,
        "contention_end": parse_contention_end,
        "mm_vmscan_direct_reclaim_begin": parse_reclaim_begin,
        "mm_vmscan_direct_reclaim_end": parse_reclaim_end,
        "mm_vmscan_memcg_reclaim_begin": parse_reclaim_begin,
        "mm_vmscan_memcg_reclaim_end": parse_reclaim_end,
    }
    for syscall in writer_syscalls:
        parsers[f"sys_enter_{syscall}"] = parse_syscall_enter
        parsers[f"sys_exit_{syscall}"] = parse_syscall_exit
    parsers["sys_enter_clone"] = parse_clone_enter
    parsers["sys_exit_clone"] = parse_syscall_exit
    parsers["sys_enter_clone3"] = parse_syscall_enter
    parsers["sys_exit_clone3"] = parse_syscall_exit
    for syscall in ("fork", "vfork"):  # no arguments: `sys_fork()`
        parsers[f"sys_enter_{syscall}"] = parse_syscall_enter
        parsers[f"sys_exit_{syscall}"] = parse_syscall_exit
    return parsers
