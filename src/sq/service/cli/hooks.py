"""`sq hooks …`: the hook events no sink would take, and replaying them, over the HTTP API.

Exit codes: 0 ok; 1 not found; 2 bad input (or an event that cannot be replayed); 3 the server is
unreachable.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

import click

from sq.service.cli.api_call import addr_option, call_api
from sq.service.cli.common import EXIT_BAD_INPUT, EXIT_FAILED

PREFIX = "/api/v1/hooks"
_EXIT_FOR_STATUS = {400: EXIT_BAD_INPUT, 404: EXIT_FAILED, 422: EXIT_BAD_INPUT}


def _call(addr: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return call_api(addr, PREFIX + path, method, body, _EXIT_FOR_STATUS)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if ms else "-"


@click.group("hooks")
def hooks() -> None:
    """Hook events: list the undeliverable ones and replay them."""


@hooks.command("undeliverable")
@click.option("--source", default=None, help="Only this domain's events (submitqueue, stovepipe).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON answer.")
@addr_option
def undeliverable(source: str | None, limit: int, as_json: bool, addr: str) -> None:
    """Hook events no sink would take, newest first, with why and when they failed."""
    query = urllib.parse.urlencode(
        {k: v for k, v in {"source": source, "limit": limit}.items() if v}
    )
    rows = _call(addr, "GET", f"/undeliverable?{query}")
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    if not rows:
        click.echo("no undeliverable hook events")
        return
    for row in rows:
        click.echo(
            f"{_when(row['failed_at_ms'])}  {row['source'] or '?':<12} {row['type'] or '?':<20} "
            f"{row['event_id']}\n    {row['reason']}"
        )


@hooks.command("replay")
@click.argument("event_id")
@addr_option
def replay(event_id: str, addr: str) -> None:
    """Publish the undeliverable event EVENT_ID again (same id) and drop it from the list."""
    answer = _call(addr, "POST", "/replay", {"event_id": event_id})
    click.echo(f"replayed {answer['event_id']} to {answer['topic']}")
