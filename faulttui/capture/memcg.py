"""Narrowing the unfiltered mmap_lock events to the target's memory cgroup.

The mmap_lock tracepoints name the memory cgroup of the *mm* being locked (not of the
task locking it): `memcg_id` (6.14+, the cgroup's kernfs id, i.e. the inode number of its
directory) or `memcg_path` (older). An event filter on it keeps every lock operation on
the target's mm, including those of other tasks (khugepaged, /proc readers, reclaim),
and drops the rest of the machine's processes unless they share the cgroup.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_CGROUP_LINE = re.compile(r"^(\d+):([^:]*):(.*)$")


@dataclass(frozen=True, slots=True)
class MemoryCgroup:
    path: str  # inside its hierarchy, e.g. /process_api/ft ("/" for the root)
    directory: str  # where it is mounted, e.g. /sys/fs/cgroup/memory/process_api/ft

    @property
    def cgroup_id(self) -> int:
        return os.stat(self.directory).st_ino

    @property
    def is_root(self) -> bool:
        return self.path == "/"


def memory_cgroup_of(pid: int, proc: str = "/proc") -> MemoryCgroup | None:
    """The memory cgroup `pid` is charged to (v1 memory controller or v2), or None."""
    try:
        with open(f"{proc}/{pid}/cgroup", encoding="utf-8") as file:
            cgroup_lines = file.read().splitlines()
        with open(f"{proc}/self/mounts", encoding="utf-8") as file:
            mount_lines = file.read().splitlines()
    except FileNotFoundError:
        return None
    return find_memory_cgroup(cgroup_lines, mount_lines)


def find_memory_cgroup(cgroup_lines: list[str], mount_lines: list[str]) -> MemoryCgroup | None:
    """From /proc/PID/cgroup and /proc/self/mounts lines (pure, for tests)."""
    v1_path = v2_path = None
    for line in cgroup_lines:
        match = _CGROUP_LINE.match(line)
        if match is None:
            continue
        hierarchy, controllers, path = match.groups()
        if "memory" in controllers.split(","):
            v1_path = path
        elif hierarchy == "0" and controllers == "":
            v2_path = path
    for line in mount_lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        mount_point, fs_type, options = fields[1], fields[2], fields[3].split(",")
        if v1_path is not None and fs_type == "cgroup" and "memory" in options:
            return MemoryCgroup(v1_path, _join(mount_point, v1_path))
        if v1_path is None and v2_path is not None and fs_type == "cgroup2":
            return MemoryCgroup(v2_path, _join(mount_point, v2_path))
    return None


def _join(mount_point: str, path: str) -> str:
    return os.path.normpath(mount_point + "/" + path.lstrip("/"))


def mmap_lock_filter(event_format: str, cgroup: MemoryCgroup) -> str | None:
    """The filter expression for an mmap_lock event with this `format` file, or None."""
    if re.search(r"\bmemcg_id;", event_format):
        return f"memcg_id == {cgroup.cgroup_id}"
    if re.search(r"\bmemcg_path\b", event_format):
        return f'memcg_path == "{cgroup.path}"'
    return None
