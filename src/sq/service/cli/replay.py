"""`sq replay`: land a repository's recent history again through the queue, and count the builds."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import cast

import click
from rich.console import Console

from sq.api.runway import LandingCheck
from sq.platform.log import configure_logging
from sq.service.cli import cli
from sq.service.cli.common import fail
from sq.service.cli.options import config_options, settings_from
from sq.service.cli.sandbox_options import sandbox_option, strategy_option, timed_console
from sq.service.demo.replay import (
    MAX_COMMITS,
    Analyzer,
    ReplayError,
    ReplayOptions,
    ReplayOutcome,
    Scorer,
    Speculator,
    run_replay,
)
from sq.submitqueue.core.messages import LandStrategy


@cli.command("replay")
@config_options
@click.argument("repository", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--build-command",
    required=True,
    help="The project's build, run in a checkout of each tree the queue builds (exit 0 = pass).",
)
@click.option(
    "--branch", default="main", show_default=True, help="The branch whose history to replay."
)
@click.option(
    "--last",
    default=10,
    show_default=True,
    type=click.IntRange(1, MAX_COMMITS),
    help="How many of the branch's last first-parent commits to replay.",
)
@click.option(
    "--budget", default=4, show_default=True, type=click.IntRange(1, 1000), help="Builds at once."
)
@click.option(
    "--speculator", type=click.Choice(["value", "standard"]), default="value", show_default=True
)
@click.option(
    "--analyzer",
    type=click.Choice(["pathoverlap", "all", "none"]),
    default=None,
    help="Which changes conflict: those in the same folders, every pair, or none (default: "
    "pathoverlap with --landing disjoint; all with exact, which orders every change anyway).",
)
@click.option(
    "--scorer",
    type=click.Choice(["history", "constant", "heuristic"]),
    default=None,
    help="How likely each change is to pass (default: the queue's default).",
)
@click.option(
    "--landing",
    type=click.Choice([c.value for c in LandingCheck]),
    default=LandingCheck.EXACT.value,
    show_default=True,
    help="exact: every landed tree was built; disjoint: independent lanes land side by side.",
)
@click.option(
    "--build-timeout",
    default=1800,
    show_default=True,
    type=click.IntRange(1, 86_400),
    help="Seconds one build may run.",
)
@strategy_option
@sandbox_option("<data-dir>/replay")
def replay(
    config_path: Path,
    data_dir: Path | None,
    repository: Path,
    build_command: str,
    branch: str,
    last: int,
    budget: int,
    speculator: str,
    analyzer: str | None,
    scorer: str | None,
    landing: str,
    build_timeout: int,
    strategy: str,
    sandbox: Path | None,
) -> None:
    """Land REPOSITORY's last commits again through the queue, and count the builds.

    The last --last commits of --branch (first parents; a merge is one change) are replayed as
    pull requests onto the commit before them, in a bare clone (REPOSITORY is not changed), and
    landed through the whole SubmitQueue stack with --build-command as the build. A commit that
    does not apply to that base on its own is skipped and named. Exits 0 once every replayed
    request settled (landed or failed)."""
    if not build_command.strip():
        fail("--build-command is empty")
    settings = settings_from(config_path, data_dir)
    configure_logging("warning", settings.log.format)
    console, say = timed_console()

    options = ReplayOptions(
        source=repository,
        branch=branch,
        last=last,
        build_command=build_command,
        build_timeout_s=build_timeout,
        budget=budget,
        speculator=cast(Speculator, speculator),
        analyzer=cast(Analyzer, analyzer or ("pathoverlap" if landing == "disjoint" else "all")),
        scorer=cast(Scorer | None, scorer),
        landing=LandingCheck(landing),
        strategy=LandStrategy(strategy),
        sandbox=sandbox,
        live=sys.stdin.isatty() and sys.stdout.isatty(),
    )
    try:
        outcome = asyncio.run(run_replay(settings, options, console, say))
    except ReplayError as exc:
        fail(str(exc))
    _report(console, outcome, branch)


def _report(console: Console, outcome: ReplayOutcome, branch: str) -> None:
    plan = outcome.plan
    console.print(f"\nSandbox: {outcome.origin}")
    for sqid, change in outcome.requests.items():
        console.print(
            f"  {sqid:<12} {outcome.status.get(sqid, '?'):<10} "
            f"{change.original[:12]} {change.subject}"
        )
    builds = outcome.builds
    per = outcome.builds_per_landed
    failed = sum(1 for s in outcome.status.values() if s != "landed")
    console.print(
        f"\n{outcome.landed} of {len(outcome.requests)} replayed commit(s) landed, {failed} did "
        f"not; {len(plan.skipped)} skipped; {outcome.seconds:.1f} s."
    )
    if builds is not None:
        console.print(builds.describe(outcome.landed))
    complete = outcome.landed == len(outcome.requests) and not plan.skipped
    if complete:
        verdict = "is" if outcome.tree_matches_tip else "[red]is not[/red]"
        console.print(f"The landed {branch} {verdict} the original tip's tree ({plan.tip[:12]}).")
    figures = {
        "replayed": len(outcome.requests),
        "landed": outcome.landed,
        "skipped": len(plan.skipped),
        "builds": builds.funded if builds else 0,
        "builds_per_landed": f"{per:.2f}" if per is not None else "-",
        "seconds": f"{outcome.seconds:.1f}",
    }
    if complete:  # else the landed tree cannot be the tip's
        figures["tree_matches_tip"] = int(outcome.tree_matches_tip)
    console.print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))
