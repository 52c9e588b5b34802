"""`faulttui replay TRACE -p POLICY [-p ...] [--json] [what-if knobs]`.

On a terminal it opens the TUI's compare view (the recording and the replays stacked on
one time axis, with a metrics table); `--json` prints the comparison JSON (DESIGN.md
"Metrics in JSON") to stdout; `--no-tui`, or stdout not being a terminal, prints a compact
table of the key metrics per timeline.
"""

from __future__ import annotations

import os
import re
import sys

import click

from faulttui.analysis.compare import RECORDING, Comparison, compare, resolve_policies
from faulttui.analysis.load import load_recording
from faulttui.cli.progress import StderrProgress
from faulttui.errors import UsageError
from replay import ReplayParams, save_workload

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """'24M', '1G', '512KiB', '1048576' -> bytes (binary units)."""
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(f"--memory-limit: cannot read {text!r} as a size (e.g. 24M, 1G)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@click.command("replay")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=str))
@click.option("-p", "--policy", "policies", multiple=True, metavar="POLICY",
              help="Policy id to replay (repeatable; default: all built-ins). "
                   "See `faulttui policies`.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--memory-limit", metavar="SIZE",
              help="Page cache for the traced file pages (e.g. 24M); default: as recorded.")
@click.option("--io-latency-scale", type=float, default=1.0, show_default=True,
              help="Multiply every storage latency.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--io-model", type=click.Choice(["observed", "queue"]), default="observed",
              show_default=True, help="Storage: recorded latency per request, or a queue.")
@click.option("--io-queue-depth", type=int, default=32, show_default=True,
              help="Queue model: requests served at once.")
@click.option("--io-service-us", type=float, default=None,
              help="Queue model: fixed service time per request (default: recorded).")
@click.option("--wakeup-us", type=float, default=None,
              help="Fixed lock hand-over latency (default: sampled from the recording).")
@click.option("--save-workload", type=click.Path(dir_okay=False, path_type=str),
              help="Also write the extracted workload (JSON) to this file.")
@click.option("--no-cache", is_flag=True, help="Import again even if a cached result exists.")
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
    try:
        params = ReplayParams(
            seed=seed,
            memory_limit=parse_size(memory_limit) if memory_limit is not None else None,
            io_latency_scale=io_latency_scale, io_model=io_model, io_queue_depth=io_queue_depth,
            io_service_ns=None if io_service_us is None else round(io_service_us * 1000),
            wakeup_ns=None if wakeup_us is None else round(wakeup_us * 1000),
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    chosen = resolve_policies(policies)  # unknown ids fail before the long load
    if not (as_json or no_tui or save_workload) and sys.stdout.isatty():
        from faulttui.tui import run_compare  # textual only for the interactive form

        sys.exit(run_compare(trace, [policy.id for policy in chosen], params))
    with StderrProgress(f"loading {os.path.basename(trace)}") as progress:
        recording = load_recording(trace, progress, use_cache=not no_cache)
    with _ReplayProgress() as replay_progress:
        comparison = compare(recording, chosen, params, replay_progress)
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


class _ReplayProgress:
    """progress(policy, done, total) on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._drawn = False

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        percent = 100 * done // total if total else 100
        sys.stderr.write(f"\r\033[Kreplay {label}: {percent:3d}% of {total:,} faults")
        sys.stderr.flush()
        self._drawn = True

    def __enter__(self) -> _ReplayProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


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
