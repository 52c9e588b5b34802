"""The on-disk cache of Recordings: in the user cache directory (XDG, via platformdirs), never
next to the trace, keyed by the file's identity (resolved path, size, mtime, inode), the
faulttui version and a digest of the code that shapes a Recording.

An entry is a pickle of the Recording. Reading one back makes millions of objects, so the
GC is paused meanwhile and the result frozen (`faulttui.model.gc_pause`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import pickle
import tempfile
import threading
import traceback
from dataclasses import replace

import platformdirs

import replay
from faulttui import __version__
from faulttui.analysis.recording import Recording
from faulttui.model.gc_pause import gc_paused
from replay import Workload

CACHE_FORMAT = 2  # 2: Recording.workload


def cache_dir() -> str:
    return os.environ.get("FAULTTUI_CACHE_DIR") or platformdirs.user_cache_dir("faulttui")


def cache_key(path: str) -> str | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    identity = f"{os.path.realpath(path)}|{status.st_size}|{status.st_mtime_ns}|{status.st_ino}"
    code = _reconstruction_code_digest()
    digest = hashlib.sha256(f"{identity}|{__version__}|{CACHE_FORMAT}|{code}".encode())
    return digest.hexdigest()[:32]


@functools.cache
def _reconstruction_code_digest() -> str:
    """A digest of the code that shapes a Recording (the importers, the reconstruction, the
    model, and the replay that simulates a synthetic workload), so an edited checkout never
    reads a cache entry written by other code under the same version number."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    replay_package = os.path.dirname(os.path.abspath(replay.__file__))
    folders = [os.path.join(package, name) for name in ("importers", "analysis", "model")]
    digest = hashlib.sha256()
    for folder in [*folders, replay_package]:
        for directory, subdirectories, names in os.walk(folder):
            subdirectories.sort()
            for name in sorted(names):
                if name.endswith(".py"):
                    with open(os.path.join(directory, name), "rb") as source:
                        digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()[:16]


def _cache_path(key: str, kind: str = "") -> str:
    return os.path.join(cache_dir(), f"{key}{kind}.pickle")


def read_cache(key: str) -> Recording | None:
    recording = _read(_cache_path(key))
    if not isinstance(recording, Recording):
        return None
    object.__setattr__(recording, "from_cache", True)
    object.__setattr__(recording, "cache_key", key)
    return recording


def write_cache(key: str, recording: Recording, background: bool = False) -> Recording:
    """Write `recording` under `key`; returns it marked with the key.

    `background`: where a fork is safe (no other thread), a forked child writes the entry
    while this process goes on (pickling a 1M-event recording takes ~1.5 s of a core this
    process may not be using); this process waits for the child when it exits, so the
    entry is complete by then."""
    path = _cache_path(key)
    if background and threading.active_count() == 1 and hasattr(os, "fork"):
        _write_in_child(path, recording)
    else:
        _write(path, recording)
    return replace(recording, cache_key=key)


def _write_in_child(path: str, value: object) -> None:
    pid = os.fork()
    if pid == 0:  # the child: write, then leave without running anything of the parent's
        status = 0
        try:
            _write(path, value)
        except BaseException:  # a bug: say it, as the parent would have
            traceback.print_exc()
            status = 70
        finally:
            os._exit(status)
    atexit.register(_reap, pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, InterruptedError):
        os.waitpid(pid, 0)


def cached_workload(recording: Recording) -> Workload | None:
    """The replay workload of a trace's recording, if the cache holds it (stored next to the
    recording's entry, same key: file identity, version, code digest)."""
    path = _cache_path(recording.cache_key, "-workload") if recording.cache_key else None
    workload = _read(path) if path is not None else None
    return workload if isinstance(workload, Workload) else None


def write_cached_workload(recording: Recording, workload: Workload) -> None:
    """Store `workload` as `recording`'s (nothing when the recording has no cache entry)."""
    if recording.cache_key:
        _write(_cache_path(recording.cache_key, "-workload"), workload)


def _read(path: str) -> object | None:
    try:
        with open(path, "rb") as cached, gc_paused():
            return pickle.load(cached)
    except FileNotFoundError:
        return None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        return None  # a damaged or stale cache entry is rebuilt, never trusted


def _write(path: str, value: object) -> None:
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as out, gc_paused():
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except OSError:
        return  # no writable cache dir: the next open computes again; nothing is lost
