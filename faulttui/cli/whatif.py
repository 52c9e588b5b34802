"""The what-if knobs shared by `replay`, `diff` and `export`: one set of options, one parser."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from faulttui.errors import UsageError
from replay import ReplayParams

_SIZE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[kKmMgGtT]?)(?:i?[bB])?$")
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

Command = TypeVar("Command", bound=Callable[..., Any])


def what_if_options(command: Command) -> Command:
    """Add --seed, --memory-limit, --io-latency-scale, --io-model, --io-queue-depth,
    --io-service-us, --wakeup-us and --no-cache to a click command."""
    options = [
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Replay random seed (same seed, same result)."),
        click.option("--memory-limit", metavar="SIZE",
                     help="What-if page-cache limit (bytes, or 24M, 1G ...); default as "
                          "recorded."),
        click.option("--io-latency-scale", type=float, default=1.0, show_default=True,
                     help="What-if: multiply every observed I/O latency."),
        click.option("--io-model", type=click.Choice(["observed", "queue"]), default="observed",
                     show_default=True,
                     help="What-if storage: recorded latency per request, or a queue."),
        click.option("--io-queue-depth", type=int, default=32, show_default=True,
                     help="Queue model: requests served at once."),
        click.option("--io-service-us", type=float, default=None,
                     help="Queue model: fixed service time per request (default: recorded)."),
        click.option("--wakeup-us", type=float, default=None,
                     help="Fixed lock hand-over latency (default: sampled from the recording)."),
        click.option("--no-cache", is_flag=True,
                     help="Import the trace again even if a cached result exists."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def parse_size(text: str | None) -> int | None:
    """`--memory-limit`: bytes, or a number with K/M/G/T (binary units); none means as recorded."""
    if text is None or text.lower() in ("none", ""):
        return None
    match = _SIZE.match(text.strip())
    if match is None:
        raise UsageError(f"--memory-limit {text!r}: expected bytes or a size such as 24M or 1G")
    return int(float(match.group("number")) * _SIZE_UNITS[match.group("unit").lower()])


def replay_params(*, seed: int, memory_limit: str | None, io_latency_scale: float,
                  io_model: str, io_queue_depth: int, io_service_us: float | None,
                  wakeup_us: float | None) -> ReplayParams:
    """The what-if options as ReplayParams; a bad value is a one-line usage error."""
    try:
        return ReplayParams(
            seed=seed, memory_limit=parse_size(memory_limit), io_latency_scale=io_latency_scale,
            io_model=io_model, io_queue_depth=io_queue_depth,
            io_service_ns=None if io_service_us is None else round(io_service_us * 1000),
            wakeup_ns=None if wakeup_us is None else round(wakeup_us * 1000),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
