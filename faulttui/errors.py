"""Error types and exit codes shared by every layer (imports nothing from faulttui)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    GATE_VIOLATED = 1
    BAD_INPUT = 2
    INTERRUPTED = 130
    INTERNAL_ERROR = 70  # a bug in faulttui (EX_SOFTWARE)


class FaultTuiError(Exception):
    """An error the user can act on; the CLI prints it as one line and exits 2."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        return f"{where}{self.message}"


class TraceFormatError(FaultTuiError):
    """The input is not a trace faulttui can read (wrong format, damaged beyond repair)."""


class UsageError(FaultTuiError):
    """A command-line value is wrong (unknown policy, bad knob value, ...)."""
