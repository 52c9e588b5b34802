"""The what-if knobs of a replay (`faulttui replay --memory-limit ... --seed ...`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from replay.storage import OBSERVED, QUEUE

PAGE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class ReplayParams:
    seed: int = 0
    memory_limit: int | None = None  # bytes of page cache for the traced file pages; None: as recorded
    io_latency_scale: float = 1.0
    io_model: str = OBSERVED  # "observed" | "queue"
    io_queue_depth: int = 32
    io_service_ns: int | None = None  # queue model: fixed service time; None: observed latency
    wakeup_ns: int | None = None  # lock hand-over latency; None: measured from the recording

    def __post_init__(self) -> None:
        if self.memory_limit is not None and self.memory_limit < PAGE_SIZE:
            raise ValueError(f"memory limit must be at least one page ({PAGE_SIZE} bytes)")
        if not self.io_latency_scale > 0:
            raise ValueError("io latency scale must be positive")
        if self.io_model not in (OBSERVED, QUEUE):
            raise ValueError(f"io model must be {OBSERVED!r} or {QUEUE!r}")
        if self.io_queue_depth < 1:
            raise ValueError("io queue depth must be at least 1")
        if self.io_service_ns is not None and self.io_service_ns < 0:
            raise ValueError("io service time must not be negative")
        if self.wakeup_ns is not None and self.wakeup_ns < 0:
            raise ValueError("wake-up latency must not be negative")

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "memory_limit": self.memory_limit,
            "io_latency_scale": self.io_latency_scale, "io_model": self.io_model,
            "io_queue_depth": self.io_queue_depth, "io_service_ns": self.io_service_ns,
            "wakeup_ns": self.wakeup_ns,
        }
