"""The per-VMA lock (include/linux/mmap_lock.h, mm/mmap_lock.c, 6.15+ refcount form).

Readers never wait: `vma_start_read` succeeds at once or fails, and the fault falls back
to `mmap_lock`. It fails while the VMA is write-locked in the current mmap write section,
and also while a writer waits for the VMA's readers to leave (`vma_start_write` has added
`VMA_LOCK_OFFSET` to `vm_refcnt`, so `__refcount_inc_not_zero_limited_acquire` fails).

A writer must hold `mmap_lock` for write. It waits for the current readers to drain
(`rcuwait_wait_event` on `mm->vma_writer_wait`), then the VMA stays write-locked until the
section's `mmap_write_unlock` or `mmap_write_downgrade` bumps `mm_lock_seq`: there is no
per-VMA unlock.
"""

from __future__ import annotations

from typing import Any

from replay.engine import Engine


class VmaLock:
    __slots__ = ("readers", "write_locked", "writer")

    def __init__(self) -> None:
        self.readers = 0
        self.write_locked = False
        self.writer: Any = None  # a writer waiting for the readers to drain

    def try_read(self) -> bool:
        if self.write_locked or self.writer is not None:
            return False
        self.readers += 1
        return True

    def release_read(self, engine: Engine) -> None:
        self.readers -= 1
        if self.readers == 0 and self.writer is not None:
            engine.wake(self.writer)

    def start_write(self, process: Any) -> bool:
        """vma_start_write: True if locked now; False if `process` must wait (yield BLOCK,
        then call `writer_resumed`)."""
        if self.write_locked:
            return True
        if self.readers == 0:
            self.write_locked = True
            return True
        self.writer = process
        return False

    def writer_resumed(self) -> None:
        self.writer = None
        self.write_locked = True

    def end_write(self) -> None:
        """mmap_write_unlock / mmap_write_downgrade -> vma_end_write_all."""
        self.write_locked = False
