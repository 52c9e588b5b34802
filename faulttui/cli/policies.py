"""`faulttui policies`: the policy catalogue, one line each."""

from __future__ import annotations

import click

from replay import available_policies


@click.command("policies")
def command() -> None:
    """List the fault-retry policies `replay` and `diff` accept.

    The built-ins follow DOMAIN.md; a package adds its own through the `faulttui.policies`
    entry-point group (see `replay/policies.py` for the protocol).
    """
    policies = available_policies()
    width = max(len(policy_id) for policy_id in policies)
    for policy_id, info in policies.items():
        origin = "" if info.origin == "built-in" else f"  [{info.origin}]"
        click.echo(f"{policy_id.ljust(width)}  {info.policy.summary}{origin}")
