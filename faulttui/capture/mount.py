"""Finding tracefs, mounting it when nobody has, and unmounting what we mounted."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from dataclasses import dataclass

from faulttui.capture.tracefs import TraceFs, TraceFsError

TRACEFS_MOUNT_POINT = "/sys/kernel/tracing"
DEBUGFS_MOUNT_POINT = "/sys/kernel/debug"
DEBUGFS_TRACING = "/sys/kernel/debug/tracing"  # kernels before 4.1, or no tracefs mount point

NEEDS_ROOT = (
    "faulttui record needs root (it changes tracefs settings and reads /proc/PID/maps): "
    "run it with sudo"
)

MountFunction = Callable[[str, str], None]
"""mount(filesystem type, mount point); raises TraceFsError."""


@dataclass(frozen=True, slots=True)
class LocatedTraceFs:
    tracefs: TraceFs
    mounted_by_us: str | None  # the mount point to unmount when done, if we mounted it


def is_tracing_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "trace")) and os.path.isfile(
        os.path.join(path, "tracing_on")
    )


def access_problem(euid: int, tracing_on_writable: bool) -> str | None:
    """Why this user cannot record, or None. Root can; so can a user tracefs lets write."""
    if euid == 0 or tracing_on_writable:
        return None
    return NEEDS_ROOT


def mount_filesystem(fs_type: str, mount_point: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.mount(b"nodev", mount_point.encode(), fs_type.encode(), 0, None)
    if result != 0:
        code = ctypes.get_errno()
        raise TraceFsError(f"cannot mount {fs_type}: {os.strerror(code)}", path=mount_point)


def unmount_filesystem(mount_point: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(mount_point.encode(), 0) != 0:
        code = ctypes.get_errno()
        raise TraceFsError(f"cannot unmount: {os.strerror(code)}", path=mount_point)


def locate_tracefs(
    explicit: str | None, euid: int, mount: MountFunction = mount_filesystem
) -> LocatedTraceFs:
    """The tracing directory to use: `explicit`, a mounted one, or one we mount now."""
    if explicit is not None:
        if not is_tracing_dir(explicit):
            raise TraceFsError("not a tracefs directory (no trace and tracing_on files)",
                               path=explicit)
        return LocatedTraceFs(TraceFs(explicit), None)
    for path in (TRACEFS_MOUNT_POINT, DEBUGFS_TRACING):
        if is_tracing_dir(path):
            return LocatedTraceFs(TraceFs(path), None)
    if euid != 0:  # not mounted, or mounted but closed to this user: both need root
        raise TraceFsError(NEEDS_ROOT)
    failures: list[str] = []
    attempts = ((TRACEFS_MOUNT_POINT, "tracefs", TRACEFS_MOUNT_POINT),
                (DEBUGFS_MOUNT_POINT, "debugfs", DEBUGFS_TRACING))
    for mount_point, fs_type, tracing_dir in attempts:
        if not os.path.isdir(mount_point):
            failures.append(f"{mount_point} does not exist")
            continue
        try:
            mount(fs_type, mount_point)
        except TraceFsError as error:
            failures.append(str(error))
            continue
        if is_tracing_dir(tracing_dir):
            return LocatedTraceFs(TraceFs(tracing_dir), mount_point)
        unmount_filesystem(mount_point)
        failures.append(f"{fs_type} mounted at {mount_point} has no tracing files")
    raise TraceFsError(
        "no tracefs: the kernel needs CONFIG_FTRACE and tracefs or debugfs ("
        + "; ".join(failures) + ")"
    )
