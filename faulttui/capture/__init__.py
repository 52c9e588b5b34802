"""Recording real traces through tracefs (`faulttui record`).

Imports only the standard library, `faulttui.errors` and `faulttui.__version__`.
"""

from faulttui.capture.recorder import (
    DEFAULT_BUFFER_KB,
    RecordInterrupted,
    RecordRequest,
    RecordResult,
    record,
)
from faulttui.capture.run import Reporter

__all__ = [
    "DEFAULT_BUFFER_KB",
    "RecordInterrupted",
    "RecordRequest",
    "RecordResult",
    "Reporter",
    "record",
]
