"""All file access to a tracefs directory goes through `TraceFs`.

One instance covers one tracing directory: the top level (`/sys/kernel/tracing`) or an
instance under `instances/`. Tests point it at a plain directory holding the same files.
Every `OSError` becomes a `TraceFsError` naming the file, so a user sees one line.

Kernel write semantics used here: opening a tracefs file with O_TRUNC and writing a
value replaces the setting (for `trace` the truncation alone clears the ring buffer, for
`set_event_pid` it empties the pid list); O_APPEND adds to a list.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
from collections.abc import Iterator
from typing import BinaryIO

from faulttui.errors import FaultTuiError

INSTANCES_DIR = "instances"
_CPU_DIR = re.compile(r"cpu(\d+)$")
# buffer_size_kb before the first use of the ring buffer: "7 (expanded: 1408)"
_UNEXPANDED_BUFFER = re.compile(r"^\s*\d+\s*\(expanded:\s*(\d+)\)\s*$")
_SELECTED_CLOCK = re.compile(r"\[(\S+)\]")


class TraceFsError(FaultTuiError):
    """A tracefs file could not be read or written."""


class TraceFs:
    """One tracing directory: the top level of tracefs or one of its instances."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def __repr__(self) -> str:
        return f"TraceFs({self.root!r})"

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def exists(self, name: str) -> bool:
        return os.path.exists(self.path(name))

    def read(self, name: str) -> str:
        try:
            with open(self.path(name), encoding="utf-8", errors="replace") as file:
                return file.read()
        except OSError as error:
            raise _error("cannot read", self.path(name), error) from error

    def write(self, name: str, value: str) -> None:
        """Replace the setting in `name` with `value` (one write call, O_TRUNC)."""
        self._write(name, value, os.O_WRONLY | os.O_TRUNC)

    def append(self, name: str, value: str) -> None:
        self._write(name, value, os.O_WRONLY | os.O_APPEND)

    def _write(self, name: str, value: str, flags: int) -> None:
        path = self.path(name)
        try:
            # no O_CREAT: a file the kernel lacks must fail here as it does on tracefs
            fd = os.open(path, flags)
        except OSError as error:
            raise _error("cannot open for writing", path, error) from error
        try:
            data = value.encode()
            if data:
                os.write(fd, data)
        except OSError as error:
            raise _error(f"cannot write {value.strip()!r}", path, error) from error
        finally:
            os.close(fd)

    def open_binary(self, name: str) -> BinaryIO:
        try:
            return open(self.path(name), "rb")
        except OSError as error:
            raise _error("cannot read", self.path(name), error) from error

    def cpu_ids(self) -> list[int]:
        """CPUs with a per_cpu/cpuN directory (one ring buffer each)."""
        try:
            names = os.listdir(self.path("per_cpu"))
        except OSError as error:
            raise _error("cannot list", self.path("per_cpu"), error) from error
        return sorted(int(match.group(1)) for name in names if (match := _CPU_DIR.match(name)))

    def has_instances(self) -> bool:
        return os.path.isdir(self.path(INSTANCES_DIR))

    def instance(self, name: str) -> TraceFs:
        return TraceFs(self.path(os.path.join(INSTANCES_DIR, name)))

    def make_instance(self, name: str) -> TraceFs:
        """Create instances/NAME (the kernel fills it with its own buffer and files)."""
        path = self.path(os.path.join(INSTANCES_DIR, name))
        try:
            os.mkdir(path)
        except OSError as error:
            raise _error("cannot create tracing instance", path, error) from error
        return TraceFs(path)

    def remove_instance(self, name: str) -> None:
        path = self.path(os.path.join(INSTANCES_DIR, name))
        try:
            os.rmdir(path)
        except OSError as error:
            raise _error("cannot remove tracing instance", path, error) from error

    def instance_names(self) -> list[str]:
        if not self.has_instances():
            return []
        return sorted(os.listdir(self.path(INSTANCES_DIR)))

    def instances_with_events(self) -> list[str]:
        """Instances (of other tracers) that have events enabled right now."""
        busy = []
        for name in self.instance_names():
            set_event = os.path.join(INSTANCES_DIR, name, "set_event")
            if self.exists(set_event) and enabled_event_names(self.read(set_event)):
                busy.append(name)
        return busy

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold an flock on the tracing directory: one `faulttui record` at a time."""
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as error:
            raise _error("cannot open", self.root, error) from error
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as error:
                raise TraceFsError(
                    "another `faulttui record` is using this tracefs; wait for it to finish",
                    path=self.root,
                ) from error
            yield
        finally:
            os.close(fd)


def _error(what: str, path: str, error: OSError) -> TraceFsError:
    reason = error.strerror or str(error)
    if error.errno in (errno.EACCES, errno.EPERM):
        reason += " (faulttui record needs root)"
    return TraceFsError(f"{what}: {reason}", path=path)


def selected_clock(trace_clock: str) -> str:
    """The clock in brackets of a `trace_clock` listing ("[local] global mono" -> "local")."""
    match = _SELECTED_CLOCK.search(trace_clock)
    if match:
        return match.group(1)
    return trace_clock.strip()


def available_clocks(trace_clock: str) -> list[str]:
    return [token.strip("[]") for token in trace_clock.split()]


def effective_buffer_kb(buffer_size_kb: str) -> str:
    """What `buffer_size_kb` amounts to, as a value that can be written back.

    Before the ring buffer is first used the kernel shows "7 (expanded: 1408)": the buffer
    is a stub and grows to 1408 KB as soon as any event is enabled. That state cannot be
    re-created, and writing 7 back would shrink every later user's buffer to 7 KB, so the
    size to restore is the expanded one. "X" (CPUs differ) is returned as is.
    """
    match = _UNEXPANDED_BUFFER.match(buffer_size_kb)
    if match:
        return match.group(1)
    return buffer_size_kb.strip()


def enabled_event_names(set_event: str) -> list[str]:
    """`group:name` entries of a `set_event` listing (a trailing `*` marks soft mode)."""
    names = []
    for line in set_event.splitlines():
        entry = line.strip().rstrip("*")
        if entry and not entry.startswith("#") and ":" in entry:
            names.append(entry)
    return names
