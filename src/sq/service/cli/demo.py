"""`sq demo`: land changes into a fresh git sandbox through the whole SubmitQueue stack."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from sq.platform.log import configure_logging
from sq.service.cli import cli
from sq.service.cli.common import EXIT_FAILED, EXIT_UNREACHABLE, fail
from sq.service.cli.options import config_options, settings_from
from sq.service.cli.sandbox_options import sandbox_option, strategy_option, timed_console
from sq.service.demo.landing import DemoError, DemoOptions, run_demo
from sq.service.demo.sandbox import BUILD_COMMAND
from sq.submitqueue.client.http import ClientError
from sq.submitqueue.core.messages import LandStrategy


@cli.command("demo")
@config_options
@click.option(
    "--provider",
    type=click.Choice(["git", "fake"]),
    default="git",
    show_default=True,
    help="git: real branches, builds and landings in the sandbox; fake: nothing but the queue.",
)
@click.option("--count", default=12, show_default=True, type=click.IntRange(1, 200))
@click.option("--folders", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--files", default=2, show_default=True, type=click.IntRange(1, 20))
@click.option("--fail", "fail_count", default=2, show_default=True, type=click.IntRange(0))
@click.option("--stacked", is_flag=True, help="Every third change is stacked on the one before.")
@click.option("--build-command", default=BUILD_COMMAND, show_default=True)
@strategy_option
@sandbox_option("<data-dir>/demo/sandbox")
@click.option("--addr", default=None, help="Use a running gateway instead of starting one.")
@click.option("--queue", default="sandbox", show_default=True, help="With --addr: its git queue.")
def demo(
    config_path: Path,
    data_dir: Path | None,
    provider: str,
    count: int,
    folders: int,
    files: int,
    fail_count: int,
    stacked: bool,
    build_command: str,
    strategy: str,
    sandbox: Path | None,
    addr: str | None,
    queue: str,
) -> None:
    """Push COUNT change branches to a fresh git sandbox, land each one, and watch them settle.

    Exits 0 iff every change not made to fail landed (and none made to fail did)."""
    if fail_count > count:
        fail(f"--fail {fail_count} is more than --count {count}")
    settings = settings_from(config_path, data_dir)
    configure_logging("warning", settings.log.format)
    console, say = timed_console()

    options = DemoOptions(
        provider="git" if provider == "git" else "fake",
        count=count,
        folders=folders,
        files=files,
        fail=fail_count,
        stacked=stacked,
        build_command=build_command,
        strategy=LandStrategy(strategy),
        sandbox=sandbox,
        addr=addr,
        queue=queue,
        live=sys.stdin.isatty() and sys.stdout.isatty(),
    )
    try:
        outcome = asyncio.run(run_demo(settings, options, console, say))
    except DemoError as exc:
        fail(str(exc))
    except ClientError as exc:
        fail(exc.message, exc.exit_code)
    except OSError as exc:
        fail(f"cannot reach the gateway: {exc}", EXIT_UNREACHABLE)
    if outcome.sandbox is not None:
        console.print(f"\nSandbox: {outcome.sandbox}")
        console.print(f"git --git-dir {outcome.sandbox} log --oneline main:")
        for line in outcome.log:
            console.print(f"  {line}")
        if not outcome.linear:
            console.print("[red]the target's history is not linear[/red]")
    landed = sum(1 for s in outcome.status.values() if s == "landed")
    console.print(
        f"\n{landed} of {len(outcome.status)} requests landed; "
        f"{sum(outcome.expected_to_fail.values())} made to fail. "
        + ("As expected." if outcome.ok else "[red]Not what was expected.[/red]")
    )
    if outcome.builds is not None:
        console.print(outcome.builds.describe(landed))
    if not outcome.ok:
        raise SystemExit(EXIT_FAILED)
