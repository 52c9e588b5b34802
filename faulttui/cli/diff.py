"""`faulttui diff TRACE -p POLICY ...`: a headless report of policies against a baseline."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import replace

import click
from click.core import ParameterSource

from faulttui import __version__
from faulttui.analysis.compare import compare
from faulttui.analysis.load import load_recording
from faulttui.cli.progress import ReplayProgress, StderrProgress
from faulttui.cli.whatif import replay_params, what_if_options
from faulttui.errors import ExitCode, UsageError
from faulttui.model.metrics import Metrics, compute_metrics
from faulttui.report.gates import Gate, evaluate, parse_gates
from faulttui.report.html import render_html
from faulttui.report.json_report import render_json
from faulttui.report.markdown import render_markdown
from faulttui.report.model import (
    DEFAULT_TOP_THREADS,
    RECORDING,
    DiffReport,
    ReportInput,
    build_report,
)
from faulttui.report.text import render_text
from replay import ReplayParams, get_policy

FORMATS = ("text", "markdown", "json", "html")


@click.command("diff")
@click.argument("trace", type=click.Path(dir_okay=False, path_type=str))
@click.option("-p", "--policy", "policies", multiple=True, required=True, metavar="POLICY",
              help="A policy to compare with the baseline (repeatable; see `faulttui policies`).")
@click.option("--baseline", default="stock", show_default=True, metavar="POLICY",
              help="The policy every other one is compared with; `recording` compares with "
                   "the trace itself.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text",
              show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=str),
              help="Write the report to FILE instead of stdout.")
@click.option("--fail-on", "fail_on", multiple=True, metavar="EXPR",
              help="A gate, e.g. 'fault_latency.p99>+10%' (repeatable; syntax below).")
@click.option("--top", "top_threads", type=click.IntRange(min=0), default=DEFAULT_TOP_THREADS,
              show_default=True, help="Threads listed per policy by improvement and regression.")
@what_if_options
def command(trace: str, policies: tuple[str, ...], baseline: str, output_format: str,
            output: str | None, fail_on: tuple[str, ...], top_threads: int, seed: int,
            memory_limit: str | None, io_latency_scale: float, io_model: str,
            io_queue_depth: int, io_service_us: float | None, wakeup_us: float | None,
            no_cache: bool) -> None:
    """Replay TRACE under each POLICY and report how it differs from the baseline.

    The report has a headline of the largest effects, a table of metrics (the recording, the
    baseline and every policy, with changes vs the baseline), fault-latency and mmap_lock-wait
    distributions (percentiles and log buckets), writer (mmap/munmap/mprotect/madvise) stalls,
    the threads that gained and lost most, and the replay parameters needed to rerun it. Every
    figure comes from the same metrics as `faulttui replay --json`.

    \b
    Gates: --fail-on 'METRIC OP VALUE' (repeatable) is checked for every POLICY; when its
    comparison holds the gate is violated: the report is still written, each violated gate is
    named on stderr and the exit status is 1. A malformed gate exits 2 before any replay.
      OP     >  >=  <  <=  ==  !=
      VALUE  +N% or -N%      relative change of the policy vs the baseline
             N, or N with ns/us/ms/s for durations: an absolute threshold
      METRIC a dotted path into the METRICS JSON (`--format json`, key "timelines");
             a key may drop its _ns suffix (fault_latency.p99 = fault_latency_ns.p99).
             DIST below is one of count total mean p50 p90 p99 p999 max, or
             buckets.[0,1us) buckets.[1us,10us) ... buckets.[100ms,inf)
        faults.total  faults.major  faults.vma_fallbacks  faults.refaults
        faults.retries.total  faults.retries.mmap  faults.retries.vma
        fault_latency.DIST                  (fault_latency_ns.DIST)
        mmap_lock.acquisitions.read  mmap_lock.acquisitions.write
        mmap_lock.trylock_failed  mmap_lock.downgrades
        mmap_lock.wait_ns.read.DIST  mmap_lock.wait_ns.write.DIST
        mmap_lock.hold_ns.read.DIST  mmap_lock.hold_ns.write.DIST
        io.requests  io.wait_ns.DIST
        writers.ops  writers.latency_ns.DIST  writers.by_op.OP.DIST (OP: mmap, munmap, ...)
        priority_inversion_ns  makespan_ns

    \b
    Examples:
      faulttui diff trace.txt.xz -p retry-vma -p hold-vma
      faulttui diff trace.txt.xz -p retry-vma --format markdown -o report.md
      faulttui diff trace.txt.xz -p retry-vma --format html -o report.html
      faulttui diff trace.txt.xz -p retry-vma --fail-on 'fault_latency.p99>+10%' \\
          --fail-on 'mmap_lock.acquisitions.read>0' --fail-on 'writers.latency.max>50ms'
    """
    gates = parse_gates(fail_on)
    compared = tuple(dict.fromkeys(policies))
    params = replay_params(
        seed=seed, memory_limit=memory_limit, io_latency_scale=io_latency_scale,
        io_model=io_model, io_queue_depth=io_queue_depth, io_service_us=io_service_us,
        wakeup_us=wakeup_us)
    rerun = rerun_command(trace, baseline, compared, click.get_current_context())
    metrics = load_and_replay(trace, baseline, compared, params, not no_cache)
    text, violated = make_report(
        ReportInput(trace=trace, version=__version__, params=params.to_json(), metrics=metrics,
                    baseline=baseline, policies=compared, rerun=rerun, top_threads=top_threads),
        gates, output_format)
    write_output(text, output)
    for line in violated:
        click.echo(f"faulttui: gate violated: {line}", err=True)
    if violated:
        # SystemExit, not ctx.exit(): in standalone_mode=False click turns ctx.exit(1) into a
        # return value, which faulttui.cli.main does not propagate
        raise SystemExit(ExitCode.GATE_VIOLATED)


def make_report(source: ReportInput, gates: Sequence[Gate], output_format: str
                ) -> tuple[str, list[str]]:
    """The rendered report and one line per violated gate."""
    gate_policies = [name for name in source.policies if name != RECORDING]
    results = evaluate(gates, {name: source.metrics[name].to_json() for name in
                               {source.baseline, *gate_policies}},
                       source.baseline, gate_policies) if gates else ()
    report = build_report(replace(source, gates=results))
    return render(report, source.metrics, output_format), [
        result.describe() for result in report.violated_gates]


def render(report: DiffReport, metrics: Mapping[str, Metrics], output_format: str) -> str:
    if output_format == "text":
        return render_text(report)
    if output_format == "markdown":
        return render_markdown(report)
    if output_format == "json":
        return render_json(report, metrics)
    if output_format == "html":
        return render_html(report)
    raise UsageError(f"unknown format {output_format!r} (one of: {', '.join(FORMATS)})")


# the what-if options, in the order a rerun command line names them
_KNOB_OPTIONS = ("seed", "memory_limit", "io_latency_scale", "io_model", "io_queue_depth",
                 "io_service_us", "wakeup_us")


def rerun_command(trace: str, baseline: str, policies: Sequence[str],
                  context: click.Context) -> str:
    """A command line that replays the same thing: TRACE, baseline, policies, and every knob
    given a value (the seed always, so the rerun does not depend on a future default)."""
    words = ["faulttui", "diff", trace, "--baseline", baseline]
    for policy in policies:
        words += ["-p", policy]
    for name in _KNOB_OPTIONS:
        value = context.params[name]
        source = context.get_parameter_source(name)
        if value is None or (name != "seed" and source is ParameterSource.DEFAULT):
            continue
        words += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float)
                  else str(value)]
    return shlex.join(words)


def load_and_replay(trace: str, baseline: str, policies: Sequence[str], params: ReplayParams,
                    use_cache: bool) -> dict[str, Metrics]:
    """Metrics of the recording, the baseline and every policy (the baseline first)."""
    replayed = [name for name in dict.fromkeys((baseline, *policies)) if name != RECORDING]
    for name in replayed:
        get_policy(name)  # an unknown id is a usage error before the long load
    return replay_metrics(trace, replayed, params, use_cache)


def replay_metrics(trace: str, policies: Sequence[str], params: ReplayParams,
                   use_cache: bool) -> dict[str, Metrics]:
    """Load TRACE, replay it under each policy, and every timeline's metrics (one `compare`)."""
    with StderrProgress(f"loading {os.path.basename(trace)}") as progress:
        recording = load_recording(trace, progress, use_cache=use_cache,
                                   cache_in_background=True, reconstructed=progress.fraction)
    if not policies:
        return {RECORDING: compute_metrics(recording.timeline)}
    with ReplayProgress() as replay_progress:
        comparison = compare(recording, policies, params, replay_progress,
                             keep_timelines=False)
    return dict(comparison.metrics)


def write_output(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as error:
        raise UsageError(f"cannot write the report: {error.strerror}", path=output) from None
