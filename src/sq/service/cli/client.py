"""`sq land | cancel | status | history | list | watch`: the gateway's command-line client.

Exit codes: 0 ok; 1 a request did not land or was not found; 2 bad input; 3 cannot reach the server.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from sq.platform import changeuri
from sq.service.cli import cli
from sq.service.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, bearer_token, fail, http_address
from sq.service.cli.options import config_options, settings_from
from sq.submitqueue.client.http import ClientError, GatewayClient
from sq.submitqueue.client.live import follow
from sq.submitqueue.client.render import history_table, summaries_table, verdict
from sq.submitqueue.client.watch import Watch

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_options(fn: F) -> F:
    fn = config_options(fn)
    fn = click.option("--json", "as_json", is_flag=True, help="Print the server's JSON.")(fn)
    fn = click.option(
        "--token-env",
        default="SQ_TOKEN",
        show_default=True,
        help="Environment variable holding a bearer token (unset: none).",
    )(fn)
    return click.option(
        "--addr", default=None, help="Gateway URL (default: the local `sq serve` of the config)."
    )(fn)


def _address(addr: str | None, config_path: Path, data_dir: Path | None) -> str:
    if addr is not None:
        return http_address(addr)
    settings = settings_from(config_path, data_dir)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    return f"http://{host}:{settings.port}"


def _run(opts: dict[str, Any], work: Callable[[GatewayClient], Awaitable[T]]) -> T:
    base = _address(opts["addr"], opts["config_path"], opts["data_dir"])
    token = bearer_token(opts["token_env"])

    async def go() -> T:
        async with GatewayClient(base, token=token) as client:
            return await work(client)

    try:
        return asyncio.run(go())
    except ClientError as exc:
        retry = f" (`sq {click.get_current_context().info_name}` can be retried)"
        fail(exc.message + (retry if exc.retryable else ""), exc.exit_code)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _branch_uri(repository: str, branch: str) -> str:
    # The qualified ref is what is resolved, so only a branch resolves: not HEAD, `@`, a tag, a
    # sha or a revision expression such as `feat~1`, which git would resolve as given.
    ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    try:
        done = subprocess.run(
            ["git", "-C", repository, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        fail(f"cannot run git to resolve branch {branch!r}: {exc}")
    if done.returncode != 0:
        why = " ".join(done.stderr.split()) or "no such branch"
        fail(f"cannot resolve branch {branch!r} in {repository}: {why}")
    try:
        return str(changeuri.branch_head_uri(repository, ref, done.stdout.strip()))
    except changeuri.ChangeURIError as exc:
        fail(f"--branch {branch!r}: {exc}")


@cli.command("land")
@click.option("--queue", "-q", required=True)
@click.option(
    "--branch", "-b", "branches", multiple=True, help="A branch of the queue's repository."
)
@click.option("--strategy", type=click.Choice(["rebase", "squash-rebase", "merge"]), default=None)
@click.option(
    "--priority",
    type=click.Choice(["normal", "high"]),
    default="normal",
    show_default=True,
    help="high: ahead of normal requests in speculation and landing order.",
)
@click.argument("uris", nargs=-1)
@client_options
def land(
    queue: str,
    branches: tuple[str, ...],
    strategy: str | None,
    priority: str,
    uris: tuple[str, ...],
    **opts: Any,
) -> None:
    """Queue change URIS (then --branch heads), in stack order, to land on QUEUE."""
    if not uris and not branches:
        fail("give at least one change URI or --branch")

    async def work(client: GatewayClient) -> dict[str, Any]:
        changes = list(uris)
        if branches:
            repository = (await client.queue(queue))["settings"].get("repository") or ""
            if not repository:
                raise ClientError(
                    f"queue {queue} has no repository to resolve branches in", EXIT_BAD_INPUT
                )
            changes += [_branch_uri(repository, b) for b in branches]
        return await client.land(queue, changes, strategy, priority)

    body = _run(opts, work)
    if opts["as_json"]:
        _print_json(body)
        return
    for uri in body["change_uris"]:
        click.echo(f"change  {uri}")
    click.echo(body["id"])


@cli.command("cancel")
@click.argument("request_id")
@click.option("--reason", default="", help="Recorded in the request's history.")
@client_options
def cancel(request_id: str, reason: str, **opts: Any) -> None:
    """Ask for REQUEST_ID to be cancelled (it may still land if it is already landing)."""
    body = _run(opts, lambda c: c.cancel(request_id, reason))
    if opts["as_json"]:
        _print_json(body)
    else:
        click.echo(f"{body['id']} {body['status']}")


@cli.command("status")
@click.argument("request_id", required=False)
@click.option("--queue", "-q", default=None, help="With --change: the queue to look in.")
@click.option("--change", default=None, help="Every request for this change URI.")
@client_options
def status(request_id: str | None, queue: str | None, change: str | None, **opts: Any) -> None:
    """The status of REQUEST_ID, or of every request for --change. Exits 1 unless landed or
    still in flight."""
    if change:
        if not queue:
            fail("--change needs --queue")
        rows = _run(opts, lambda c: c.by_change(queue, change))["requests"]
    elif request_id:
        rows = [_run(opts, lambda c: c.status(request_id))]
    else:
        fail("give REQUEST_ID or --queue with --change")
    if opts["as_json"]:
        _print_json(rows if change else rows[0])
    else:
        _console().print(summaries_table(rows))
    if any(r["status"] in ("error", "cancelled") for r in rows):
        sys.exit(EXIT_FAILED)


@cli.command("history")
@click.argument("request_id", required=False)
@click.option("--queue", "-q", default=None, help="With --change: the queue to look in.")
@click.option("--change", default=None, help="Histories of every request for this change URI.")
@client_options
def history(request_id: str | None, queue: str | None, change: str | None, **opts: Any) -> None:
    """Every status change and event of REQUEST_ID (or of each request for --change)."""
    if change:
        if not queue:
            fail("--change needs --queue")
        histories = _run(opts, lambda c: c.histories_by_change(queue, change))["histories"]
    elif request_id:
        histories = [_run(opts, lambda c: c.history(request_id))]
    else:
        fail("give REQUEST_ID or --queue with --change")
    if opts["as_json"]:
        _print_json(histories if change else histories[0])
        return
    console = _console()
    for one in histories:
        console.print(f"[bold]{one['id']}[/bold]")
        console.print(history_table(one["events"]))


def _since_ms(since: str) -> int:
    if since in ("", "0"):
        return 0
    number, unit = since[:-1], since[-1]
    if unit not in _UNITS or not (number.isascii() and number.isdigit()):
        fail(f"--since {since!r}: use e.g. 90s, 15m, 2h, 1d, or 0 for all")
    return time.time_ns() // 1_000_000 - int(number) * _UNITS[unit] * 1000


@cli.command("list")
@click.option("--queue", "-q", required=True)
@click.option(
    "--since", default="0", show_default=True, help="Only requests received since (15m, 2h, 1d)."
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(0), help="0 = all.")
@client_options
def list_requests(queue: str, since: str, limit: int, **opts: Any) -> None:
    """Requests of QUEUE, newest first."""
    after = _since_ms(since)
    rows = _run(opts, lambda c: c.list_requests(queue, after_ms=after, limit=limit))
    if opts["as_json"]:
        _print_json(rows)
    else:
        _console().print(summaries_table(rows))


MAX_WATCH_INTERVAL_S = 3600.0


@cli.command("watch")
@click.argument("request_ids", nargs=-1)
@click.option("--queue", "-q", default=None, help="Watch the queue's recent requests.")
@click.option("--since", default="15m", show_default=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(0.05))
@client_options
def watch(
    request_ids: tuple[str, ...],
    queue: str | None,
    since: str,
    limit: int,
    interval: float,
    **opts: Any,
) -> None:
    """Follow REQUEST_IDS (or --queue's recent requests) until all settle; exit 1 if any did not
    land. Full-screen on a terminal (↑↓ j k, PgUp PgDn, g G, q); plain lines otherwise."""
    if not request_ids and not queue:
        fail("give REQUEST_IDS or --queue")
    if not interval <= MAX_WATCH_INTERVAL_S:  # NaN and infinity pass FloatRange's lower bound
        fail(f"--interval must be a number of seconds from 0.05 to {MAX_WATCH_INTERVAL_S:g}")
    console = _console()
    tty = sys.stdin.isatty() and sys.stdout.isatty()

    async def work(client: GatewayClient) -> bool:
        ids = list(request_ids)
        if queue:
            rows = await client.list_requests(queue, after_ms=_since_ms(since), limit=limit)
            ids += [r["id"] for r in reversed(rows) if r["id"] not in ids]
        if not ids:
            raise ClientError(f"no requests in {queue} since {since}", EXIT_FAILED)
        w = Watch(client, ids)
        await follow(w, console, live=tty and not opts["as_json"], interval=interval)
        # The last view printed already ends with the verdict line.
        return verdict(list(w.rows.values()))[0]

    if not _run(opts, work):
        sys.exit(EXIT_FAILED)
