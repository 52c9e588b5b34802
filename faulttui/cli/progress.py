"""One-line progress indicators on stderr, shown only when stderr is a terminal: the load of a
trace (how much of it is reconstructed) and the replays (faults replayed per policy)."""

from __future__ import annotations

import sys
import time
from types import TracebackType

REDRAW_S = 0.1  # at most ~10 redraws a second


class _Line:
    """A line on stderr redrawn in place and cleared at the end (a context manager)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last_draw = 0.0
        self._drawn = False

    def draw(self, text: str, *, final: bool = False) -> None:
        """Show `text` unless the last redraw was under REDRAW_S ago (`final` always shows)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_draw < REDRAW_S and not final:
            return
        self._last_draw = now
        sys.stderr.write(f"\r\033[K{text}")
        sys.stderr.flush()
        self._drawn = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


class StderrProgress(_Line):
    """The load: `fraction(share)` for load_recording's `reconstructed` (how much of the trace
    is reconstructed), and callable as progress(done_bytes, total_bytes) for what reports
    bytes read (a synthetic workload's JSON; a trace's bytes are read ahead of its
    reconstruction, so they are not shown once the reconstruction reports)."""

    def __init__(self, label: str, enabled: bool | None = None) -> None:
        super().__init__(enabled)
        self.label = label
        self._reconstructing = False

    def __call__(self, done: int, total: int) -> None:
        if not self._reconstructing:
            percent = 100 * done // total if total else 100
            self.draw(f"{self.label}: {percent:3d}% of {total / 1e6:.1f} MB read",
                      final=done >= total)

    def fraction(self, share: float) -> None:
        self._reconstructing = True
        self.draw(f"{self.label}: {int(100 * share):3d}% reconstructed", final=share >= 1.0)

    def __enter__(self) -> StderrProgress:
        return self


class ReplayProgress(_Line):
    """The replays: callable as progress(policy, done_faults, total_faults). Until the first
    report it says that the workload is being prepared (extracted from the trace, or read
    from the cache)."""

    def __call__(self, policy: str, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        self.draw(f"replaying {policy}: {percent:3d}% of {total:,} faults", final=done >= total)

    def __enter__(self) -> ReplayProgress:
        self.draw("preparing the replays (the workload of the trace)", final=True)
        return self
