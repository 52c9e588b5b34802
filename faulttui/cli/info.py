"""`faulttui info TRACE [--json]`: what the reconstruction found in a trace."""

from __future__ import annotations

import os
from collections import Counter

import click
import orjson

from faulttui.analysis.load import Recording, load_recording
from faulttui.cli.progress import StderrProgress
from faulttui.model.metrics import compute_metrics


@click.command("info")
@click.argument("trace", type=click.Path(dir_okay=True, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (stable keys).")
@click.option("--no-cache", is_flag=True, help="Import again even if a cached result exists.")
def command(trace: str, as_json: bool, no_cache: bool) -> None:
    """Summarize what faulttui reconstructed from TRACE.

    Events by name, page faults by kind (the fault-window rule: a window opens at a thread's
    page_fault_user and closes at its next fault, its next syscall entry or the trace end),
    mmap_lock acquisitions, trylock failures and downgrades, and every warning.

    \b
    Fault kinds (each counts faults, not events):
      io_sleep       the thread slept in D state (waiting for I/O or a lock)
      retry_mmap     after such a sleep it took mmap_lock for read (the stock retry)
      mmap_fallback  before any sleep it tried mmap_lock for read (VMA lock unavailable)
      vma_only       no mmap_lock event at all: ran under the per-VMA lock

    \b
    Examples:
      faulttui info trace.txt.xz
      faulttui info trace.dat --json | jq .mmap_lock
    """
    with StderrProgress(f"loading {os.path.basename(trace)}") as progress:
        recording = load_recording(trace, progress, use_cache=not no_cache,
                                   reconstructed=progress.fraction)
    if as_json:
        click.echo(orjson.dumps(recording.info_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render_info(recording))


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.3f} ms"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _writer_mix(recording: Recording) -> str:
    """`mprotect 40, fork 3; `: the writers by operation, most frequent first."""
    ops = Counter(op.op for op in recording.timeline.writer_ops).most_common()
    return f"{', '.join(f'{op} {count:,}' for op, count in ops)}; " if ops else ""


def render_info(recording: Recording) -> str:
    info = recording.info_json()
    metrics = compute_metrics(recording.timeline)
    faults = info["faults"]
    locks = info["mmap_lock"]
    total = faults["total"]
    lines = [
        f"{recording.path}  ({info['format']}, {info['events']:,} events, "
        f"{info['duration_ns'] / 1e9:.3f} s)",
        "",
        f"page faults      {total:,} in {faults['threads']} threads "
        f"(p50 {_ms(metrics.fault_latency.p50)}, p99 {_ms(metrics.fault_latency.p99)}, "
        f"max {_ms(metrics.fault_latency.max)})",
        f"  io_sleep       {faults['io_sleep']:>9,}  {_pct(faults['io_sleep'], total):>6}  slept in D",
        f"  retry_mmap     {faults['retry_mmap']:>9,}  {_pct(faults['retry_mmap'], total):>6}  "
        "retried under mmap_lock after the sleep",
        f"  mmap_fallback  {faults['mmap_fallback']:>9,}  {_pct(faults['mmap_fallback'], total):>6}  "
        "fell back to mmap_lock before any sleep",
        f"  vma_only       {faults['vma_only']:>9,}  {_pct(faults['vma_only'], total):>6}  "
        "per-VMA lock only",
        f"  refaults       {metrics.refaults:>9,}  {_pct(metrics.refaults, total):>6}  "
        "retry found its page evicted and read it again",
        "",
        f"mmap_lock        {locks['acquisitions']['read']:,} read, "
        f"{locks['acquisitions']['write']:,} write acquisitions; "
        f"{locks['trylock_failed']:,} failed trylocks; {locks['downgrades']:,} downgrades",
        f"  read wait      total {_ms(metrics.mmap_read_wait.total)}, "
        f"p99 {_ms(metrics.mmap_read_wait.p99)}, max {_ms(metrics.mmap_read_wait.max)}",
        f"  write wait     total {_ms(metrics.mmap_write_wait.total)}, "
        f"p99 {_ms(metrics.mmap_write_wait.p99)}, max {_ms(metrics.mmap_write_wait.max)}",
        f"writers          {metrics.writer_ops:,} ({_writer_mix(recording)}"
        f"p99 {_ms(metrics.writer_latency.p99)}, max {_ms(metrics.writer_latency.max)})",
        f"block I/O        {metrics.io_requests:,} requests "
        f"(p50 {_ms(metrics.io_wait.p50)}, p99 {_ms(metrics.io_wait.p99)})",
        f"VMAs             {info['vmas']['count']} from {info['vmas']['source']}",
        "",
        "events           " + ", ".join(
            f"{name} {count:,}" for name, count in sorted(
                info["event_counts"].items(), key=lambda item: -item[1])),
    ]
    if info["lost_events"]:
        lines.append(f"LOST EVENTS      {info['lost_events']:,} (increase the trace buffer)")
    if info["warning_count"]:
        lines.append(f"warnings         {info['warning_count']:,}")
        lines.extend(f"  {warning}" for warning in info["warnings"][:10])
        if info["warning_count"] > 10:
            lines.append(f"  ... {info['warning_count'] - 10:,} more (see --json)")
    else:
        lines.append("warnings         none")
    return "\n".join(lines)
