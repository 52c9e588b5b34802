"""The `faulttui` command line: a click group whose commands live one per module.

Commands are imported lazily so that `faulttui info` never loads the TUI (textual), and a
broken optional piece cannot stop the others from starting.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from faulttui import __version__
from faulttui.errors import ExitCode, FaultTuiError

# command name -> module under faulttui.cli that defines `command`
_COMMANDS: dict[str, str] = {
    "open": "open_cmd",
    "info": "info",
    "replay": "replay_cmd",
    "diff": "diff",
    "policies": "policies",
    "generate": "generate",
    "record": "record",
    "export": "export",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in _COMMANDS if self._module_exists(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = _COMMANDS.get(cmd_name)
        if module_name is None or not self._module_exists(cmd_name):
            return None
        module = importlib.import_module(f"faulttui.cli.{module_name}")
        command: click.Command = module.command
        return command

    @staticmethod
    def _module_exists(cmd_name: str) -> bool:
        return importlib.util.find_spec(f"faulttui.cli.{_COMMANDS[cmd_name]}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faulttui")
def cli() -> None:
    """faulttui: which lock should a page fault's retry take? Settle it with a trace.

    \b
    Typical session:
      faulttui open                       # TUI on the bundled sample trace
      faulttui info trace.txt.xz          # what the trace holds: faults, locks, warnings
      faulttui replay trace.txt.xz -p retry-vma --json
      faulttui diff trace.txt.xz -p retry-vma -p hold-vma --format markdown
      faulttui record -o my.txt.xz -- ./my-workload

    TRACE is raw tracefs text, `trace-cmd report` text, a trace-cmd .dat, a Perfetto
    trace or a synthetic workload (.json), optionally .gz/.xz compressed; the format is
    sniffed from the content.

    Exit codes: 0 ok, 1 a --fail-on gate was violated, 2 bad usage or input, 130 interrupted.
    """


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the group, map our errors to one line and an exit code."""
    try:
        # standalone_mode=False returns ctx.exit(n)'s code instead of exiting
        returned = cli.main(args=argv, prog_name="faulttui", standalone_mode=False)
    except FaultTuiError as error:
        click.echo(f"faulttui: {error}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("faulttui: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("faulttui: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(ExitCode.BAD_INPUT if error.exit_code == 2 else error.exit_code)
    except BrokenPipeError:
        # `faulttui info x --json | head`: the reader went away; not an error of ours.
        sys.stderr.close()
        sys.exit(ExitCode.OK)
    except Exception as error:
        if os.environ.get("FAULTTUI_DEBUG"):
            raise
        click.echo(
            f"faulttui: internal error: {type(error).__name__}: {error} "
            "(a bug in faulttui; rerun with FAULTTUI_DEBUG=1 for the traceback and report it)",
            err=True,
        )
        sys.exit(ExitCode.INTERNAL_ERROR)
    sys.exit(returned if isinstance(returned, int) else ExitCode.OK)
