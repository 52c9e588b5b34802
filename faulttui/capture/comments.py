"""The comment lines `faulttui record` writes around the tracefs text.

First line: `# faulttui-record: ` then shell words `key=value`: `shlex.split` the rest of
the line (`cmd`'s value is one word; `shlex.split` it again for the argv). Last line:
`# faulttui-record-end: ` with the counts known only after the save. The
`# faulttui-maps` lines are in `proc.py`. Any `#` line is a comment to a tracefs reader.
"""

from __future__ import annotations

import os
import shlex
import signal

from faulttui.capture.output import TextStats
from faulttui.capture.proc import monotonic_ns

HEADER_PREFIX = "# faulttui-record: "
TRAILER_PREFIX = "# faulttui-record-end: "


def header_line(fields: dict[str, str]) -> str:
    words = " ".join(f"{key}={shlex.quote(one_line(value))}" for key, value in fields.items())
    return f"{HEADER_PREFIX}{words}\n"


def one_line(value: str) -> str:
    """Control characters (a script passed to `sh -c`...) written as \\n, \\t: one line."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode() for char in value
    )


def describe_status(wait_status: int | None) -> str:
    """`exit:N`, `signal:NAME`, or `none` (a --pid recording: not our child)."""
    if wait_status is None:
        return "none"
    if os.WIFSIGNALED(wait_status):
        return f"signal:{signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exit:{os.waitstatus_to_exitcode(wait_status)}"


def trailer_line(text: TextStats, lost: dict[int, int], wait_status: int | None,
                 duration_ns: int) -> str:
    lost_total = max(sum(lost.values()), text.lost_in_markers)
    return (f"{TRAILER_PREFIX}events={text.events} lost_events={lost_total} "
            f"cmd_status={describe_status(wait_status)} duration_ns={duration_ns} "
            f"end_ts_ns={monotonic_ns()}\n")
