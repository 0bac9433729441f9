"""`sq stovepipe …`: ingest a queue's head and ask where it is green, over the HTTP API.

Exit codes: 0 ok (and, for `greenness`, green); 1 not green, not recorded or not found; 2 bad
input; 3 the server (or the queue's repository) is unreachable.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

from sq.service.cli import cli
from sq.service.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE

PREFIX = "/api/v1/stovepipe"
EXIT_FOR_STATUS = {
    400: EXIT_BAD_INPUT,
    404: EXIT_FAILED,
    422: EXIT_BAD_INPUT,
    424: EXIT_UNREACHABLE,
}

addr_option = click.option(
    "--addr",
    envvar="SQ_ADDR",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Where `sq serve` listens (env SQ_ADDR).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the JSON answer.")


def _call(addr: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    if not addr.startswith(("http://", "https://")):
        click.echo(f"error: --addr must be an http(s) URL, not {addr!r}", err=True)
        raise SystemExit(EXIT_BAD_INPUT)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
        addr.rstrip("/") + PREFIX + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            message = f"{error['message']} ({error['code']})"
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        click.echo(f"error: {message}", err=True)
        code = EXIT_FOR_STATUS.get(exc.code, EXIT_UNREACHABLE if exc.code >= 500 else EXIT_FAILED)
        raise SystemExit(code) from None
    except (urllib.error.URLError, OSError) as exc:
        click.echo(f"error: cannot reach {addr}: {exc}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None


def _query(**params: Any) -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def _print(answer: Any) -> None:
    click.echo(json.dumps(answer, indent=2, sort_keys=True))


def _request_line(r: dict[str, Any]) -> str:
    degree = r.get("degree")
    fact = "no fact" if degree is None else ("green" if degree == 0 else f"broken ({degree:g})")
    reason = f" {r['failure_reason']}" if r.get("failure_reason") else ""
    strategy = r["build_strategy"] or "-"
    return f"{r['id']:<28} {r['state']:<11} {strategy:<24} {fact}{reason}  {r['uri']}"


@cli.group("stovepipe")
def stovepipe() -> None:
    """Post-merge greenness: ingest heads, ask where a queue is green."""


@stovepipe.command("ingest")
@click.argument("queue")
@addr_option
@json_option
def ingest(queue: str, addr: str, as_json: bool) -> None:
    """Validate QUEUE's current head (idempotent: an unchanged head keeps its request)."""
    answer = _call(addr, "POST", "/ingest", {"queue": queue})
    _print(answer) if as_json else click.echo(f"{answer['id']} {answer['uri']}")


@stovepipe.command("status")
@click.argument("queue")
@addr_option
@json_option
def status(queue: str, addr: str, as_json: bool) -> None:
    """Last green, promotion ref, builds in flight and recent requests of QUEUE."""
    answer = _call(addr, "GET", f"/status?{_query(queue=queue)}")
    if as_json:
        _print(answer)
        return
    click.echo(f"queue          {answer['queue']}")
    click.echo(f"last green     {answer['last_green_uri'] or '(none yet)'}")
    click.echo(f"promotion ref  {answer.get('promotion_ref') or '(none)'}")
    click.echo(f"in flight      {', '.join(answer['in_flight']) or '(none)'}")
    poller = answer.get("poller") or {}
    if poller.get("last_error"):
        click.echo(f"poller error   {poller['last_error']}")
    for r in answer["recent"]:
        click.echo("  " + _request_line(r))


@stovepipe.command("greenness")
@click.argument("queue")
@click.argument("commit")
@addr_option
@json_option
def greenness(queue: str, commit: str, addr: str, as_json: bool) -> None:
    """Is QUEUE green at COMMIT (a URI or a full sha)? Exit 0 only when green."""
    answer = _call(addr, "GET", f"/greenness?{_query(queue=queue, commit=commit)}")
    _print(answer) if as_json else click.echo(f"{answer['state']} {answer['uri']}")
    raise SystemExit(EXIT_OK if answer["state"] == "green" else EXIT_FAILED)


@stovepipe.command("history")
@click.argument("queue")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--before", default=None, help="Only requests older than this request id.")
@addr_option
@json_option
def history(queue: str, limit: int, before: str | None, addr: str, as_json: bool) -> None:
    """QUEUE's requests, newest first, with their outcome and fact."""
    answer = _call(addr, "GET", f"/history?{_query(queue=queue, limit=limit, before=before)}")
    if as_json:
        _print(answer)
        return
    for r in answer["requests"]:
        click.echo(_request_line(r))
