"""`faulttui open [TRACE]`: the TUI (textual is imported only inside the command)."""

from __future__ import annotations

import importlib.resources
import sys

import click

from faulttui.errors import ExitCode
from faulttui.importers.source import check_readable

SAMPLE_TRACE = "cold-8t-writer.txt.xz"


def sample_trace_path() -> str:
    """The bundled sample trace, as a real file path."""
    resource = importlib.resources.files("faulttui").joinpath("samples", SAMPLE_TRACE)
    return str(resource)


@click.command("open")
@click.argument("trace", required=False, type=click.Path(dir_okay=True, path_type=str))
def command(trace: str | None) -> None:
    """Explore TRACE in the terminal UI: threads over time, mmap_lock, each fault.

    With no TRACE, opens the bundled sample (8 threads faulting in cold file pages while
    a writer mmaps and munmaps). The first open imports the trace (with a progress bar; Esc
    cancels); the result is cached, so the next open of the same file is fast.

    \b
    Keys: w/s zoom, a/d pan, j/k thread, n/N fault, c/C contention, / search, ? help, q quit.
    """
    path = trace if trace is not None else sample_trace_path()
    check_readable(path)  # a bad path is one line on stderr, before the screen switches

    # textual is loaded only for the TUI: `faulttui info` must never import it
    from faulttui.tui import run_open

    exit_code = run_open(path)
    if exit_code == ExitCode.INTERRUPTED:
        click.echo("faulttui: loading cancelled", err=True)
        sys.exit(ExitCode.INTERRUPTED)
