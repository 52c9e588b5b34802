"""`faulttui generate SCENARIO [--param value ...] -o FILE [--emit workload|ftrace]`."""

from __future__ import annotations

import gzip
import lzma

import click
import orjson

from faulttui.errors import UsageError
from replay.synthetic import spec_to_json
from replay.synthetic.scenarios import SCENARIOS, get_scenario


def _scenario_help() -> str:
    lines = ["\b", "Scenarios and their parameters (defaults in brackets):"]
    for scenario in SCENARIOS:
        lines.append(f"  {scenario.name}: {scenario.summary}")
        for param in scenario.params:
            default = int(param.default) if param.integer else param.default
            lines.append(f"    --{param.name.replace('_', '-'):<20} {param.help} [{default}]")
    return "\n".join(lines)


@click.command("generate", epilog=_scenario_help(),
               context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("scenario", type=click.Choice([s.name for s in SCENARIOS]))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="File to write (.gz / .xz: compressed).")
@click.option("--emit", type=click.Choice(["workload", "ftrace"]), default="workload",
              show_default=True,
              help="workload: the synthetic workload (JSON); ftrace: its simulated `stock` "
                   "run as raw tracefs text.")
@click.pass_context
def command(ctx: click.Context, scenario: str, output: str, emit: str) -> None:
    """Write a built-in synthetic SCENARIO (a workload any faulttui command reads as a trace).

    \b
    Examples:
      faulttui generate ioretry --threads 64 --file-mb 2 -o ioretry.json
      faulttui info ioretry.json
      faulttui diff ioretry.json -p retry-vma
      faulttui generate pft --threads 16 --emit ftrace -o pft.txt.xz
    """
    chosen = get_scenario(scenario)
    spec = chosen.spec(parse_params(ctx.args))
    if emit == "workload":
        data = orjson.dumps(spec_to_json(spec), option=orjson.OPT_INDENT_2) + b"\n"
    else:
        from faulttui.analysis.synthetic_source import simulate_stock
        from replay.synthetic.ftrace_emit import timeline_to_ftrace

        data = timeline_to_ftrace(simulate_stock(spec, output)[1]).encode()
    write_output(output, data)


def parse_params(args: list[str]) -> dict[str, float]:
    """['--threads', '64', '--file-mb=2'] -> {'threads': 64.0, 'file_mb': 2.0}."""
    values: dict[str, float] = {}
    pending = list(args)
    while pending:
        arg = pending.pop(0)
        if not arg.startswith("--") or len(arg) < 3:
            raise UsageError(f"unexpected argument {arg!r} (scenario parameters are --name VALUE)")
        name, _, text = arg[2:].partition("=")
        if not _:
            if not pending:
                raise UsageError(f"--{name}: needs a value")
            text = pending.pop(0)
        try:
            values[name.replace("-", "_")] = float(text)
        except ValueError:
            raise UsageError(f"--{name}: {text!r} is not a number") from None
    return values


def write_output(path: str, data: bytes) -> None:
    try:
        if path.endswith(".xz"):
            data = lzma.compress(data)
        elif path.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        with open(path, "wb") as out:
            out.write(data)
    except OSError as error:
        raise UsageError(f"cannot write: {error.strerror}", path=path) from error
