"""`sq serve`: run services (all of them in one process by default) until a signal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import sqlalchemy as sa

from sq.platform.log import configure_logging
from sq.platform.process import serve as serve_until_signal
from sq.service.access import public_without_tokens
from sq.service.cli import cli
from sq.service.cli.common import EXIT_UNREACHABLE, fail
from sq.service.cli.options import config_options, settings_from
from sq.service.runtime import WiringError
from sq.service.settings import Settings
from sq.service.stack import LocalStack, service_names


@cli.command("serve")
@click.argument("names", nargs=-1)
@config_options
@click.option("--host", default=None, help="Listen address (default from the config: 127.0.0.1).")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Port for every HTTP API (default 8080).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Serve a non-loopback address even with no token configured (anyone may write).",
)
def serve(
    names: tuple[str, ...],
    config_path: Path,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    insecure: bool,
) -> None:
    """Run NAMES (gateway, orchestrator, runway, stovepipe; default: all) in this process."""
    settings = settings_from(config_path, data_dir)
    host = host or settings.host
    refusal = public_without_tokens(host, settings.auth.access(), insecure=insecure)
    if refusal:
        fail(refusal)
    wanted = list(names) or ["all"]
    if wanted == ["all"]:
        wanted = service_names()
    unknown = [n for n in wanted if n not in service_names()]
    if unknown:
        fail(f"unknown service {unknown[0]!r}; choose from: all, {', '.join(service_names())}")
    configure_logging(settings.log.level, settings.log.format)
    raise SystemExit(
        asyncio.run(_run(settings, wanted, host, settings.port if port is None else port))
    )


async def _run(settings: Settings, wanted: list[str], host: str, port: int) -> int:
    try:
        stack = LocalStack(settings, wanted, host, port)
    except WiringError as exc:
        fail(str(exc))
    except sa.exc.OperationalError as exc:  # a database is not there, or refuses us
        reason = " ".join(str(exc.orig or exc).split())
        fail(f"cannot open a database: {reason}", EXIT_UNREACHABLE)
    except OSError as exc:  # a data directory or SQLite path that cannot be created
        fail(f"cannot start: {exc}")
    try:
        return await serve_until_signal(stack.group, drain_seconds=settings.mq.drain_seconds)
    finally:
        await stack.close()
