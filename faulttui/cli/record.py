"""`faulttui record -o FILE [--] CMD...` / `--pid PID`: a real capture through tracefs."""

from __future__ import annotations

import os
import re
import signal
import sys

import click

from faulttui.capture import DEFAULT_BUFFER_KB, RecordRequest, RecordResult, record
from faulttui.capture.events import event_category
from faulttui.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SUMMARY_ORDER = ("page faults", "mmap_lock", "sched", "block", "filemap", "syscalls",
                  "lock contention", "reclaim", "other")


def parse_duration(text: str) -> float:
    """Seconds in "10s", "500ms", "2m", "1h" or a bare number of seconds."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise UsageError(f"--duration: expected a positive time like 10s, 500ms or 2m, got {text!r}")
    return float(match.group(1)) * _DURATION_UNIT_S[match.group(2) or "s"]


class _StderrReporter:
    def __init__(self) -> None:
        self.interactive = sys.stderr.isatty()
        self.progress_shown = False

    def status(self, message: str) -> None:
        self._end_progress()
        click.echo(f"faulttui: {message}", err=True)

    def warning(self, message: str) -> None:
        self._end_progress()
        click.echo(f"faulttui: warning: {message}", err=True)

    def progress(self, text_bytes: int) -> None:
        if self.interactive:
            sys.stderr.write(f"\rfaulttui: saving: {text_bytes / 1e6:.0f} MB of trace text")
            sys.stderr.flush()
            self.progress_shown = True

    def _end_progress(self) -> None:
        if self.progress_shown:
            sys.stderr.write("\r\033[K")
            self.progress_shown = False


@click.command(
    "record",
    context_settings={"allow_interspersed_args": False, "help_option_names": ["-h", "--help"]},
)
@click.option("-o", "--output", required=True, metavar="FILE",
              help="Trace file to write; .gz or .xz compresses it.")
@click.option("--pid", type=int, metavar="PID",
              help="Record a running process (all its threads) instead of running CMD.")
@click.option("--duration", metavar="TIME",
              help="With --pid: stop after TIME (10s, 500ms, 2m). Default: until it exits or Ctrl-C.")
@click.option("--buffer-kb", type=click.IntRange(min=64), default=DEFAULT_BUFFER_KB,
              show_default=True,
              help="Ring buffer per CPU, in KB (raise it if events are lost); the unfiltered "
                   "second buffer gets half.")
@click.option("--system-wide", is_flag=True,
              help="No pid filter: keep every task's events (busy machines: much bigger traces).")
@click.option("--strict", is_flag=True, help="Fail if this kernel lacks any of the events.")
@click.option("--tracefs", "tracefs_dir", metavar="DIR",
              help="Tracing directory to use (default /sys/kernel/tracing, mounted if needed).")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="[--] CMD [ARGS]...")
def command(output: str, pid: int | None, duration: str | None, buffer_kb: int,
            system_wide: bool, strict: bool, tracefs_dir: str | None, cmd: tuple[str, ...]) -> None:
    """Record page faults and mmap_lock activity of CMD (or of --pid PID) into FILE.

    Needs root and a writable tracefs (mounted at /sys/kernel/tracing if it is not). The
    file is raw tracefs text that every faulttui command reads, with /proc/PID/maps
    snapshots of the target at the start and end as `# faulttui-maps` comment lines.

    \b
    What gets enabled:
      exceptions:page_fault_user
      mmap_lock:mmap_lock_{start_locking,acquire_returned,released}
      filemap:mm_filemap_fault, filemap:mm_filemap_{add_to,delete_from}_page_cache
      sched:sched_switch, sched:sched_waking
      block:block_rq_issue, block:block_rq_complete
      lock:contention_begin, lock:contention_end
      syscalls:sys_{enter,exit}_{mmap,munmap,mprotect,madvise,brk,mremap,clone,clone3}
      syscalls:sys_{enter,exit}_{fork,vfork} (where the architecture has them)
      vmscan:mm_vmscan_{direct,memcg}_reclaim_{begin,end}

    It also turns options/record-tgid on and sets trace_clock to mono (the clock of the
    maps timestamps). Everything the target and the threads and processes it forks do is
    recorded in the pid-filtered main buffer (set_event_pid with options/event-fork; the
    kernel keeps sched_switch and sched_waking when either side is the target). Block
    completions (interrupts), requests issued by kworkers, page cache evictions by kswapd
    and mmap_lock operations on the target's mm by other tasks (khugepaged, /proc readers)
    happen in other tasks' context: a second buffer (a tracing instance) without the pid
    filter records them, its mmap_lock events narrowed to the target's memory cgroup, and
    they are merged in by time. --system-wide records everything in one unfiltered buffer.

    Every tracefs setting it changes is put back afterwards, also after a failure or
    Ctrl-C; only the trace buffer's content is not.

    \b
    Examples:
      sudo faulttui record -o cold.txt.xz -- ./faultload data.bin 8 800 100
      sudo faulttui record -o app.txt.gz --pid 4242 --duration 10s
      faulttui open cold.txt.xz
    A cold page cache first makes faults major (I/O, lock drop, retry):
      sync; echo 3 > /proc/sys/vm/drop_caches

    \b
    Memory pressure (pages evicted before the retry): run it in a small memory cgroup,
    from a shell that joined the cgroup (CMD inherits it):
    cgroup v1 (/sys/fs/cgroup/memory exists):
      mkdir /sys/fs/cgroup/memory/ft
      echo 64M > /sys/fs/cgroup/memory/ft/memory.limit_in_bytes
      sudo sh -c 'echo $$ > /sys/fs/cgroup/memory/ft/cgroup.procs &&
                  exec faulttui record -o memcg.txt.xz -- ./faultload data.bin 64 1500'
    cgroup v2: echo +memory > /sys/fs/cgroup/cgroup.subtree_control, mkdir
    /sys/fs/cgroup/ft, echo 64M > /sys/fs/cgroup/ft/memory.max, then the same with
    /sys/fs/cgroup/ft/cgroup.procs.

    \b
    Exit status: 0 when the trace was saved, even if CMD failed (its status is printed
    and stored in the file's last line); 2 for a missing piece (not root, no tracefs,
    CMD not found, events missing with --strict); 130 after Ctrl-C (what was recorded
    up to then is saved).
    """
    if cmd and pid is not None:
        raise UsageError("give either CMD or --pid, not both")
    if not cmd and pid is None:
        raise UsageError("nothing to record: give CMD (after --) or --pid PID")
    if duration is not None and pid is None:
        raise UsageError("--duration goes with --pid; to limit CMD, run `timeout 10s CMD`")
    request = RecordRequest(
        output=output, command=cmd, pid=pid,
        duration_s=parse_duration(duration) if duration is not None else None,
        buffer_kb=buffer_kb, strict=strict, system_wide=system_wide, tracefs_dir=tracefs_dir,
    )
    reporter = _StderrReporter()
    result = record(request, reporter)
    for line in summary_lines(result, buffer_kb):
        reporter.status(line)
    if result.wait_status is not None and result.wait_status != 0 and result.stop_signal is None:
        reporter.warning(f"the command {describe_wait_status(result.wait_status)}; trace saved")
    if result.lost_events:
        reporter.warning(
            f"{result.lost_events:,} events were lost (the ring buffer filled up): record "
            f"again with a larger --buffer-kb (this run: {buffer_kb} KB per CPU) or a shorter run"
        )
    reporter.status(f"next: faulttui open {output}")
    if result.stop_signal is not None:
        raise click.Abort


def describe_wait_status(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        return f"was killed by {signal.Signals(os.WTERMSIG(wait_status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(wait_status)}"


def summary_lines(result: RecordResult, buffer_kb: int) -> list[str]:
    families: dict[str, int] = {}
    for name, count in result.text.event_counts.items():
        family = event_category(name)
        families[family] = families.get(family, 0) + count
    parts = [f"{family} {families[family]:,}" for family in _SUMMARY_ORDER if families.get(family)]
    status = "" if result.wait_status is None else f", {describe_wait_status(result.wait_status)}"
    lost = f"{result.lost_events:,} lost" if result.lost_events else "none lost"
    return [
        f"recorded `{result.command}` (pid {result.pid}) for {result.duration_ns / 1e9:.2f} s{status}",
        f"{result.text.events:,} events ({lost}): " + (", ".join(parts) or "none"),
        f"wrote {result.output} ({_megabytes(result.file_bytes)}, "
        f"{_megabytes(result.text.text_bytes)} of trace text; buffer {buffer_kb} KB per CPU)",
    ]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} KB"
