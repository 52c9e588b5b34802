"""`faulttui export TRACE [-p POLICY ...] -o OUT.pftrace`: a Perfetto trace for ui.perfetto.dev."""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
from collections.abc import Iterator, Sequence
from typing import BinaryIO

import click

from faulttui.analysis.compare import compare, resolve_policies
from faulttui.analysis.load import load_recording
from faulttui.cli.progress import ReplayProgress, StderrProgress
from faulttui.cli.whatif import replay_params, what_if_options
from faulttui.errors import UsageError
from faulttui.model.timeline import Timeline
from faulttui.report.perfetto_export import ExportSummary, write_perfetto_trace
from faulttui.report.perfetto_export_locks import DEFAULT_FLOWS_PER_WAIT
from faulttui.report.perfetto_export_packets import ByteSink
from replay import ReplayParams

OUTPUT_SUFFIXES = (".pftrace", ".perfetto-trace", ".pb")


@click.command("export")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=str))
@click.option("-p", "--policy", "policies", multiple=True, metavar="POLICY",
              help="Also replay under POLICY and export its timeline (repeatable; see "
                   "`faulttui policies`). Default: the recording only.")
@click.option("-o", "--output", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=str),
              help="The Perfetto trace to write: .pftrace, .perfetto-trace or .pb, "
                   "gzip-compressed when the name ends in .gz.")
@click.option("--flows-per-wait", type=click.IntRange(min=0), default=DEFAULT_FLOWS_PER_WAIT,
              show_default=True,
              help="Flow arrows from a mmap_lock wait to the holds it waited for (0: none).")
@what_if_options
def command(trace: str, policies: tuple[str, ...], output: str, flows_per_wait: int, seed: int,
            memory_limit: str | None, io_latency_scale: float, io_model: str,
            io_queue_depth: int, io_service_us: float | None, wakeup_us: float | None,
            no_cache: bool) -> None:
    """Export TRACE's timeline, and each POLICY's replayed timeline, as a Perfetto trace.

    Open the result at https://ui.perfetto.dev. Each timeline is one process ("recording",
    "stock", "retry-vma", ...) on the same time axis. Per thread: a slice per page fault
    (arguments: address, VMA, attempts, retry lock and reason, refault, I/O), its attempts
    ("vma", "mmap-read"), mmap_lock waits and states of interest (io-wait, wait:mmap-read,
    runnable, ...). Per mm: mmap_lock write and read holds, a waiter counter, and flow arrows
    from each wait to the holds it waited for.

    \b
    Examples:
      faulttui export trace.txt.xz -o trace.pftrace
      faulttui export trace.txt.xz -p stock -p retry-vma -o compare.pftrace.gz
      faulttui export trace.txt.xz -p hold-vma --io-latency-scale 10 -o slow-io.pftrace
    """
    compressed = check_output_name(output)
    params = replay_params(
        seed=seed, memory_limit=memory_limit, io_latency_scale=io_latency_scale,
        io_model=io_model, io_queue_depth=io_queue_depth, io_service_us=io_service_us,
        wakeup_us=wakeup_us)
    timelines = load_timelines(trace, policies, params, use_cache=not no_cache)
    summary = write_output(timelines, output, compressed, flows_per_wait)
    click.echo(describe(summary, output), err=True)


def check_output_name(output: str) -> bool:
    """Whether the output is gzip-compressed; a usage error for any other suffix."""
    compressed = output.endswith(".gz")
    stem = output[:-3] if compressed else output
    if not stem.endswith(OUTPUT_SUFFIXES) or os.path.basename(stem) in OUTPUT_SUFFIXES:
        raise UsageError(f"-o {output}: the name must end in {', '.join(OUTPUT_SUFFIXES)} "
                         "(optionally followed by .gz)")
    directory = os.path.dirname(output) or "."
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write the trace: no directory {directory}", path=output)
    return compressed


def load_timelines(trace: str, policies: Sequence[str], params: ReplayParams,
                   use_cache: bool) -> list[Timeline]:
    """The recording's timeline, then one per policy (unknown ids fail before the load)."""
    chosen = resolve_policies(policies) if policies else []
    with StderrProgress(f"loading {os.path.basename(trace)}") as progress:
        recording = load_recording(trace, progress, use_cache=use_cache,
                                   cache_in_background=True, reconstructed=progress.fraction)
    if not chosen:
        return [recording.timeline]
    with ReplayProgress() as replay_progress:
        comparison = compare(recording, chosen, params, replay_progress)
    return list(comparison.timelines.values())


def write_output(timelines: Sequence[Timeline], output: str, compressed: bool,
                 flows_per_wait: int) -> ExportSummary:
    """Write the trace to `output`; a failed or interrupted write leaves no partial file."""
    try:
        raw = open(output, "wb")  # noqa: SIM115 (closed below, removed on failure)
    except OSError as error:
        raise UsageError(f"cannot write the trace: {error.strerror}", path=output) from None
    try:
        with raw, _maybe_gzip(raw, compressed) as out, _ExportProgress() as progress:
            summary = write_perfetto_trace(timelines, out, flows_per_wait, progress)
    except OSError as error:
        _remove_quietly(output)
        raise UsageError(f"cannot write the trace: {error.strerror}", path=output) from None
    except BaseException:
        _remove_quietly(output)
        raise
    return summary


class _ExportProgress:
    """progress(timeline, done, total) on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._drawn = False

    def __call__(self, name: str, done: int, total: int) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[Kexporting {name} ({done + 1}/{total})")
            sys.stderr.flush()
            self._drawn = True

    def __enter__(self) -> _ExportProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


@contextlib.contextmanager
def _maybe_gzip(raw: BinaryIO, compressed: bool) -> Iterator[ByteSink]:
    if not compressed:
        yield raw
        return
    with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as zipped:
        yield zipped


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def describe(summary: ExportSummary, output: str) -> str:
    size = os.path.getsize(output)
    names = ", ".join(item.name for item in summary.timelines)
    threads = sum(item.threads for item in summary.timelines)
    holds = sum(item.lock_holds for item in summary.timelines)
    return (f"wrote {output}: {len(summary.timelines)} timeline(s) ({names}), "
            f"{threads:,} threads, {summary.tracks:,} tracks, {summary.slices:,} slices "
            f"({holds:,} mmap_lock holds), {summary.flows:,} flows, "
            f"{summary.counter_values:,} counter values; {_size(size)}"
            + (f" ({_size(summary.bytes_written)} uncompressed)"
               if size != summary.bytes_written else "")
            + "\nopen it at https://ui.perfetto.dev")


def _size(nbytes: int) -> str:
    if nbytes >= 1 << 20:
        return f"{nbytes / (1 << 20):.1f} MB"
    if nbytes >= 1 << 10:
        return f"{nbytes / (1 << 10):.1f} KB"
    return f"{nbytes} B"
