"""`sq stovepipe …`: ingest a queue's head and ask where it (or one of its projects) is green,
over the HTTP API.

Exit codes: 0 ok (and, for `greenness` and `green`, green); 1 not green, not recorded or not
found; 2 bad input; 3 the server (or the queue's repository) is unreachable. Human output names
commits by 12 hex digits; `--json` always carries full URIs.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, NoReturn

import click

from sq.service.cli import cli
from sq.service.cli.api_call import addr_option, call_api
from sq.service.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE

PREFIX = "/api/v1/stovepipe"
EXIT_FOR_STATUS = {
    400: EXIT_BAD_INPUT,
    404: EXIT_FAILED,
    422: EXIT_BAD_INPUT,
    424: EXIT_UNREACHABLE,
}

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the JSON answer (full URIs and shas)."
)
project_option = click.option(
    "--project", "-p", default="", help="One project of the queue instead of the whole repository."
)
SHORT = 12
_SHA_TAIL = re.compile(r"/([0-9a-f]{40})(?:[?#].*)?$")


def _call(addr: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return call_api(addr, PREFIX + path, method, body, EXIT_FOR_STATUS)


def _query(**params: Any) -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def _print(answer: Any) -> None:
    click.echo(json.dumps(answer, indent=2, sort_keys=True))


def short(uri: str) -> str:
    """How human output names a commit: the first 12 hex digits of a URI's sha (`--json` always
    carries the full URI)."""
    match = _SHA_TAIL.search(uri)
    return match.group(1)[:SHORT] if match else uri


def _request_line(r: dict[str, Any]) -> str:
    degree = r.get("degree")
    fact = "no fact" if degree is None else ("green" if degree == 0 else f"broken ({degree:g})")
    reason = f" {r['failure_reason']}" if r.get("failure_reason") else ""
    strategy = r["build_strategy"] or "-"
    return f"{r['id']:<28} {r['state']:<11} {strategy:<24} {fact}{reason}  {short(r['uri'])}"


def _promotion(answer: dict[str, Any]) -> str:
    ref = answer.get("promotion_ref")
    if not ref:
        return "(none)"
    if answer.get("promotion_error"):
        return f"{ref} (cannot read: {answer['promotion_error']})"
    uri = answer.get("promotion_uri")
    return f"{ref} at {short(uri)}" if uri else f"{ref} unset"


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
    _print(answer) if as_json else click.echo(f"{answer['id']} {short(answer['uri'])}")


@stovepipe.command("status")
@click.argument("queue")
@addr_option
@json_option
def status(queue: str, addr: str, as_json: bool) -> None:
    """Last green, promotion ref (where it points now), builds in flight, projects and recent
    requests of QUEUE."""
    answer = _call(addr, "GET", f"/status?{_query(queue=queue)}")
    if as_json:
        _print(answer)
        return
    last_green = answer["last_green_uri"]
    click.echo(f"queue          {answer['queue']}")
    click.echo(f"last green     {short(last_green) if last_green else '(none yet)'}")
    click.echo(f"promotion ref  {_promotion(answer)}")
    click.echo(f"in flight      {', '.join(answer['in_flight']) or '(none)'}")
    poller = answer.get("poller") or {}
    if poller.get("last_error"):
        click.echo(f"poller error   {poller['last_error']}")
    for p in answer.get("projects") or []:
        green = short(p["last_green_uri"]) if p["last_green_uri"] else "(none yet)"
        click.echo(f"project {p['project']:<12} last green {green}  promotion {_promotion(p)}")
    for r in answer["recent"]:
        click.echo("  " + _request_line(r))


def _verdict(answer: dict[str, Any], as_json: bool) -> NoReturn:
    _print(answer) if as_json else click.echo(f"{answer['state']} {short(answer['uri'])}")
    raise SystemExit(EXIT_OK if answer["state"] == "green" else EXIT_FAILED)


@stovepipe.command("greenness")
@click.argument("queue")
@click.argument("commit")
@project_option
@addr_option
@json_option
def greenness(queue: str, commit: str, project: str, addr: str, as_json: bool) -> None:
    """Is QUEUE (or --project) green at COMMIT (a URI or a full sha)? Exit 0 only when green."""
    query = _query(queue=queue, commit=commit, project=project or None)
    _verdict(_call(addr, "GET", f"/greenness?{query}"), as_json)


@stovepipe.command("green")
@click.argument("queue")
@project_option
@click.option("--uri", default=None, help="Ask about this commit (a URI or a full sha).")
@addr_option
@json_option
def green(queue: str, project: str, uri: str | None, addr: str, as_json: bool) -> None:
    """Where QUEUE (or --project) is green: with --uri, whether it is green there (exit 0 only
    when green); without, the newest commit where it is (exit 1 when there is none yet)."""
    if uri is not None:
        query = _query(queue=queue, commit=uri, project=project or None)
        _verdict(_call(addr, "GET", f"/greenness?{query}"), as_json)
    answer = _call(addr, "GET", f"/last-green?{_query(queue=queue, project=project or None)}")
    if as_json:
        _print(answer)
    else:
        click.echo(short(answer["uri"]) if answer["uri"] else "(none yet)")
    raise SystemExit(EXIT_OK if answer["uri"] else EXIT_FAILED)


@stovepipe.command("history")
@click.argument("queue")
@project_option
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--before", default=None, help="Only requests older than this request id.")
@addr_option
@json_option
def history(
    queue: str, project: str, limit: int, before: str | None, addr: str, as_json: bool
) -> None:
    """QUEUE's requests, newest first, with their outcome and fact; with --project, the commits
    the project has a verdict at."""
    query = _query(queue=queue, limit=limit, before=before, project=project or None)
    answer = _call(addr, "GET", f"/history?{query}")
    if as_json:
        _print(answer)
        return
    for r in answer["requests"]:
        click.echo(_request_line(r))
