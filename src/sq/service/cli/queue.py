"""`sq queue …`: an operator's controls over a queue (pause, resume, drain) and its mode.

Exit codes: 0 ok; 1 no such queue; 2 bad input or a token without the admin scope; 3 the server
is unreachable. The token comes from $SQ_TOKEN.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import click

from sq.service.cli.api_call import addr_option, call_api


def _path(name: str, tail: str) -> str:
    return f"/api/v1/queues/{urllib.parse.quote(name, safe='')}/{tail}"


def _show(control: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(control, indent=2, sort_keys=True))
        return
    reason = f" ({control['reason']})" if control.get("reason") else ""
    click.echo(f"{control['queue']}: {control['mode']}{reason}")


@click.group("queue")
def queue() -> None:
    """Pause, resume or drain a queue, or show its mode."""


def _control_command(verb: str, help_text: str) -> None:
    @queue.command(verb, help=help_text)
    @click.argument("name")
    @click.option("--reason", default="", help="Why (shown with the queue's mode).")
    @click.option("--json", "as_json", is_flag=True, help="Print the JSON answer.")
    @addr_option
    def command(name: str, reason: str, as_json: bool, addr: str) -> None:
        _show(call_api(addr, _path(name, verb), "POST", {"reason": reason}), as_json)


_control_command(
    "pause", "Fund no new build on NAME; builds that run finish, and land if they pass."
)
_control_command("resume", "Let NAME accept requests and fund builds again.")
_control_command("drain", "Accept no new request on NAME; land what it already holds.")


@queue.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON answer.")
@addr_option
def show(name: str, as_json: bool, addr: str) -> None:
    """The mode of NAME: active, paused or draining."""
    _show(call_api(addr, _path(name, "control")), as_json)
