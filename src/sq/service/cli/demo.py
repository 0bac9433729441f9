"""`sq demo`: see the system work, end to end, on the embedded SQLite default."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click
from rich.console import Console

from sq.platform.log import configure_logging
from sq.service.cli import cli
from sq.service.cli.options import config_options, settings_from
from sq.service.demo.queue_trail import run_demo


@cli.command("demo")
@config_options
@click.option("--orders", "count", default=6, show_default=True, type=click.IntRange(1, 500))
def demo(config_path: Path, data_dir: Path | None, count: int) -> None:
    """Run a two-stage pipeline over the durable queue and show each message's trail."""
    settings = settings_from(config_path, data_dir)
    configure_logging("warning", settings.log.format)
    console = Console(highlight=False, soft_wrap=True)
    started = time.monotonic()

    def trail(order: str, event: str) -> None:
        console.print(
            f"[dim]{time.monotonic() - started:6.2f}s[/dim]  [bold]{order:<9}[/bold] {event}"
        )

    console.print(f"Queue: SQLite at {settings.data_dir / 'demo-queue.db'}")
    deps = asyncio.run(run_demo(settings.data_dir, count, trail))
    console.print(
        f"\n{len(deps.shipped)} shipped, {len(deps.reconciled)} rejected via the DLQ. "
        f"Inspect with: sq mq --db {settings.data_dir / 'demo-queue.db'} topics"
    )
