"""`faulttui replay TRACE -p POLICY [-p ...] [--json] [what-if knobs]`.

On a terminal it opens the TUI's compare view (the recording and the replays stacked on
one time axis, with a metrics table); `--json` prints the comparison JSON (DESIGN.md
"Metrics in JSON") to stdout; `--no-tui`, or stdout not being a terminal, prints a compact
table of the key metrics per timeline.
"""

from __future__ import annotations

import os
import sys

import click

from faulttui.analysis.compare import RECORDING, Comparison, compare, resolve_policies
from faulttui.analysis.load import load_recording
from faulttui.cli.progress import ReplayProgress, StderrProgress
from faulttui.cli.whatif import replay_params, what_if_options
from faulttui.errors import UsageError
from replay import save_workload


@click.command("replay")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=str))
@click.option("-p", "--policy", "policies", multiple=True, metavar="POLICY",
              help="Policy id to replay (repeatable; default: all built-ins). "
                   "See `faulttui policies`.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@what_if_options
@click.option("--save-workload", type=click.Path(dir_okay=False, path_type=str),
              help="Also write the extracted workload (JSON) to this file.")
@click.option("--no-tui", is_flag=True,
              help="Print the metrics table even on a terminal (default there: the TUI).")
def command(trace: str, policies: tuple[str, ...], as_json: bool, memory_limit: str | None,
            io_latency_scale: float, seed: int, io_model: str, io_queue_depth: int,
            io_service_us: float | None, wakeup_us: float | None, save_workload: str | None,
            no_cache: bool, no_tui: bool) -> None:
    """Replay TRACE's workload under fault-retry POLICYs and compare with the recording.

    On a terminal this opens the side-by-side TUI; with --json (or --no-tui, or when
    stdout is not a terminal) it prints the metrics instead.

    \b
    Examples:
      faulttui replay trace.txt.xz -p retry-vma            # TUI: recording vs retry-vma
      faulttui replay trace.txt.xz -p stock -p retry-vma --json
      faulttui replay trace.txt.xz -p hold-vma --io-latency-scale 10
      faulttui replay trace.txt.xz -p stock -p retry-vma --memory-limit 16M --seed 3
    """
    params = replay_params(
        seed=seed, memory_limit=memory_limit, io_latency_scale=io_latency_scale,
        io_model=io_model, io_queue_depth=io_queue_depth, io_service_us=io_service_us,
        wakeup_us=wakeup_us)
    chosen = resolve_policies(policies)  # unknown ids fail before the long load
    if not (as_json or no_tui or save_workload) and sys.stdout.isatty():
        from faulttui.tui import run_compare  # textual only for the interactive form

        sys.exit(run_compare(trace, [policy.id for policy in chosen], params))
    with StderrProgress(f"loading {os.path.basename(trace)}") as progress:
        recording = load_recording(trace, progress, use_cache=not no_cache,
                                   cache_in_background=True, reconstructed=progress.fraction)
    with ReplayProgress() as replay_progress:
        comparison = compare(recording, chosen, params, replay_progress, keep_timelines=False)
    if save_workload:
        save_workload_file(comparison, save_workload)
    if as_json:
        click.echo(comparison.to_json_bytes().decode())
    else:
        click.echo(render_table(comparison))


def save_workload_file(comparison: Comparison, path: str) -> None:
    try:
        save_workload(comparison.workload, path)
    except OSError as error:
        raise UsageError(f"cannot write the workload: {error.strerror}", path=path) from error


def _us(ns: int) -> str:
    return f"{ns / 1000:,.0f}"


def render_table(comparison: Comparison) -> str:
    """Key metrics, one column per timeline."""
    names = list(comparison.metrics)
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, values: list[str]) -> None:
        rows.append((label, values))

    metrics = [comparison.metrics[name] for name in names]
    row("faults", [f"{m.faults_total:,}" for m in metrics])
    row("  major", [f"{m.faults_major:,}" for m in metrics])
    row("  retries mmap/vma", [f"{m.retries_mmap:,}/{m.retries_vma:,}" for m in metrics])
    row("  refaults", [f"{m.refaults:,}" for m in metrics])
    row("fault latency p50 us", [_us(m.fault_latency.p50) for m in metrics])
    row("fault latency p99 us", [_us(m.fault_latency.p99) for m in metrics])
    row("mmap_lock reads", [f"{m.mmap_read_acquisitions:,}" for m in metrics])
    row("mmap_lock writes", [f"{m.mmap_write_acquisitions:,}" for m in metrics])
    row("trylock failed", [f"{m.trylock_failed:,}" for m in metrics])
    row("read wait total ms", [f"{m.mmap_read_wait.total / 1e6:,.1f}" for m in metrics])
    row("write wait p99 us", [_us(m.mmap_write_wait.p99) for m in metrics])
    row("writer latency p99 us", [_us(m.writer_latency.p99) for m in metrics])
    row("makespan ms", [f"{m.makespan_ns / 1e6:,.1f}" for m in metrics])
    label_width = max(len(label) for label, _ in rows)
    widths = [max(len(name), *(len(values[i]) for _, values in rows))
              for i, name in enumerate(names)]
    lines = [" " * label_width + "  " + "  ".join(name.rjust(width)
                                                  for name, width in zip(names, widths, strict=True))]
    for label, values in rows:
        lines.append(label.ljust(label_width) + "  " + "  ".join(
            value.rjust(width) for value, width in zip(values, widths, strict=True)))
    params = comparison.params
    lines.append("")
    lines.append(f"{RECORDING} = {comparison.trace}; seed {params.seed}, memory limit "
                 f"{params.memory_limit or 'as recorded'}, io latency x{params.io_latency_scale}"
                 f", io model {params.io_model}")
    return "\n".join(lines)
