"""Save the tracefs settings a recording changes, and put them back whatever happens.

Saved and restored: `tracing_on`, `current_tracer`, `trace_clock`, `buffer_size_kb` (per
CPU when the CPUs differ), `options/record-tgid`, `options/event-fork`, `set_event_pid`,
and the `enable` file of every event the recording enables or switches off (its own and
whatever was enabled before). The ring buffer contents are not restored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from faulttui.capture.tracefs import (
    TraceFs,
    TraceFsError,
    effective_buffer_kb,
    enabled_event_names,
    selected_clock,
)

TRACING_ON = "tracing_on"
CURRENT_TRACER = "current_tracer"
TRACE_CLOCK = "trace_clock"
BUFFER_SIZE_KB = "buffer_size_kb"
RECORD_TGID = "options/record-tgid"
EVENT_FORK = "options/event-fork"
SET_EVENT_PID = "set_event_pid"
SET_EVENT = "set_event"


@dataclass(frozen=True, slots=True)
class SavedSettings:
    """Values to write back, in the order to write them; `tracing_on` goes last."""

    settings: tuple[tuple[str, str], ...]
    tracing_on: str

    def value(self, name: str) -> str | None:
        for file_name, value in self.settings:
            if file_name == name:
                return value
        return None


def enable_file_of(spec: str) -> str:
    group, name = spec.split(":", 1)
    return f"events/{group}/{name}/enable"


def save_settings(tracefs: TraceFs, event_enable_files: Iterable[str]) -> SavedSettings:
    """Read the current value of everything a recording may change."""
    enable_files = list(dict.fromkeys(event_enable_files))
    if tracefs.exists(SET_EVENT):
        for spec in enabled_event_names(tracefs.read(SET_EVENT)):
            enable_file = enable_file_of(spec)
            if enable_file not in enable_files and tracefs.exists(enable_file):
                enable_files.append(enable_file)
    settings: list[tuple[str, str]] = [
        (enable_file, tracefs.read(enable_file).strip()[:1]) for enable_file in enable_files
    ]
    if tracefs.exists(SET_EVENT_PID):
        pids = tracefs.read(SET_EVENT_PID).split()
        settings.append((SET_EVENT_PID, " ".join(pids)))
    for option in (RECORD_TGID, EVENT_FORK):
        if tracefs.exists(option):
            settings.append((option, tracefs.read(option).strip()))
    settings.append((CURRENT_TRACER, tracefs.read(CURRENT_TRACER).strip()))
    settings.append((TRACE_CLOCK, selected_clock(tracefs.read(TRACE_CLOCK))))
    buffer_kb = effective_buffer_kb(tracefs.read(BUFFER_SIZE_KB))
    if buffer_kb == "X":  # CPUs have different sizes: save each one
        for cpu in tracefs.cpu_ids():
            per_cpu = f"per_cpu/cpu{cpu}/{BUFFER_SIZE_KB}"
            settings.append((per_cpu, effective_buffer_kb(tracefs.read(per_cpu))))
    else:
        settings.append((BUFFER_SIZE_KB, buffer_kb))
    return SavedSettings(tuple(settings), tracefs.read(TRACING_ON).strip())


def restore_settings(tracefs: TraceFs, saved: SavedSettings) -> list[str]:
    """Write every saved value back; return what could not be restored (empty if all was)."""
    problems: list[str] = []
    steps = [(TRACING_ON, "0"), *saved.settings, (TRACING_ON, saved.tracing_on)]
    for file_name, value in steps:
        try:
            if file_name == RECORD_TGID and (busy := _tgid_flip_unsafe(tracefs, value)):
                problems.append(
                    f"left {RECORD_TGID} on: tracing instance {', '.join(busy)} enabled events "
                    "meanwhile, and turning it off now would corrupt the kernel's tgid/comm "
                    "recording refcount (see faulttui/capture/session.py)"
                )
                continue
            tracefs.write(file_name, value)
        except TraceFsError as error:
            problems.append(str(error))
    return problems


def _tgid_flip_unsafe(tracefs: TraceFs, value: str) -> list[str]:
    """Instances with events enabled, if writing `value` would flip record-tgid now."""
    if tracefs.read(RECORD_TGID).strip() == value or not tracefs.has_instances():
        return []
    return tracefs.instances_with_events()


@contextlib.contextmanager
def preserved(tracefs: TraceFs, event_enable_files: Iterable[str]) -> Iterator[SavedSettings]:
    """Save the settings, run the body, restore them on every way out (errors, Ctrl-C)."""
    saved = save_settings(tracefs, event_enable_files)
    try:
        yield saved
    finally:
        problems = restore_settings(tracefs, saved)
        if problems:
            raise TraceFsError(
                "could not restore tracefs settings: " + "; ".join(problems), path=tracefs.root
            )


@contextlib.contextmanager
def private_instance(tracefs: TraceFs, name: str) -> Iterator[TraceFs]:
    """A tracing instance of our own, removed on every way out."""
    instance = tracefs.make_instance(name)
    try:
        yield instance
    finally:
        tracefs.remove_instance(name)
