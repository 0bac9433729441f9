"""`sq speculate …`: look inside the speculation engine without a running queue."""

from __future__ import annotations

import json
import sys

import click

from sq.service.cli import cli
from sq.service.cli.common import fail
from sq.submitqueue.core.speculation.plan import PlanInputError, plan


@click.group("speculate")
def speculate() -> None:
    """Inspect the speculation engine."""


@speculate.command("plan")
def plan_command() -> None:
    """Read a queue snapshot as JSON on stdin; print the builds and cancels one run would make."""
    text = sys.stdin.read()
    try:
        snapshot = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"input is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    try:
        result = plan(snapshot)
    except PlanInputError as exc:
        fail(" ".join(str(exc).split()))
    click.echo(json.dumps(result, indent=2, allow_nan=False))


cli.add_command(speculate)
