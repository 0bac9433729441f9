"""`sq speculate …`: look inside the speculation engine without a running queue."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from sq.service.cli import cli
from sq.service.cli.common import fail
from sq.service.cli.options import config_options, settings_from
from sq.submitqueue.core.speculation.plan import PlanInputError, plan


@click.group("speculate")
def speculate() -> None:
    """Inspect the speculation engine."""


@speculate.command("plan")
@click.option(
    "--queue",
    "queue_name",
    default=None,
    help="Plan as this configured queue does: its speculator and tuning, and its budget and "
    "default probability where the input gives none.",
)
@config_options
def plan_command(queue_name: str | None, config_path: Path, data_dir: Path | None) -> None:
    """Read a queue snapshot as JSON on stdin; print the builds and cancels one run would make.

    The input's `speculator` (standard or value) picks the Speculator; without it and without
    --queue, the standard one.
    """
    text = sys.stdin.read()
    try:
        snapshot = json.loads(text)
        json.dumps(snapshot, ensure_ascii=False).encode()  # what the plan echoes must print
    except json.JSONDecodeError as exc:
        fail(f"input is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    except RecursionError:
        fail("input is nested too deeply")
    except UnicodeEncodeError:
        fail("input holds text that is not Unicode (a lone surrogate escape)")
    if queue_name is not None and isinstance(snapshot, dict):
        snapshot = _with_queue_config(snapshot, queue_name, config_path, data_dir)
    try:
        result = plan(snapshot)
    except PlanInputError as exc:
        fail(" ".join(str(exc).split()))
    click.echo(json.dumps(result, indent=2, allow_nan=False))


def _with_queue_config(
    snapshot: dict[str, Any], queue_name: str, config_path: Path, data_dir: Path | None
) -> dict[str, Any]:
    """The input, with what it leaves out taken from the queue's configuration."""
    queues = settings_from(config_path, data_dir).submitqueue.queues
    config = next((q for q in queues if q.name == queue_name), None)
    if config is None:
        fail(f"no queue named {queue_name!r} in {config_path}")
    configured: dict[str, Any] = {
        "budget": config.build_budget,
        "default_probability": config.default_probability,
        "speculator": config.speculator,
    }
    if "speculator" not in snapshot:
        configured["speculation_threshold"] = config.speculation_threshold
        configured["speculation_hysteresis"] = config.speculation_hysteresis
    return configured | {k: v for k, v in snapshot.items() if v is not None or k not in configured}


cli.add_command(speculate)
