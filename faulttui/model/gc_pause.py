"""Pausing the cyclic GC while a large, acyclic structure is built or loaded.

A trace's records, a workload's specs and a replay's records are hundreds of thousands of
small, long-lived objects with no reference cycle among them: while they are made, the
cyclic GC would rescan them over and over for nothing, and once it is enabled again its
first collection would traverse all of them once (~1 s per million objects), unless they
are frozen. Frozen objects are still freed by reference counting; only a cycle among the
objects alive at the freeze would never be collected. So a block that raised is not frozen
(a replay cut short leaves its threads' generators in cycles).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused(*, freeze: bool = True) -> Iterator[None]:
    """The cyclic GC paused for the block; with `freeze`, what exists when the block
    completes is frozen (moved out of the collector's reach)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if was_enabled:
            gc.enable()
