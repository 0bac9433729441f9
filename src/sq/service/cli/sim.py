"""`sq sim`: the speculation simulator, our queue against serial, optimistic, bisect and oracle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sq.service.cli import cli
from sq.service.cli.common import fail
from sq.sim import report
from sq.sim.runner import (
    DRAIN_BUILDS,
    EXTRA_STRATEGY_NAMES,
    PAPER_TAIL_HOURS,
    PAPER_WARMUP_HOURS,
    PAPER_WINDOW_HOURS,
    STRATEGY_NAMES,
    Scenario,
    default_grid,
    run_grid,
)
from sq.sim.workload import (
    BuildDistribution,
    ConflictKind,
    ConflictSpec,
    FailureModel,
    WorkloadSpec,
)


@click.command("sim")
@click.option("--seed", type=int, default=1, show_default=True, help="Workload seed.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write sim.csv (and sim.png when matplotlib is installed) here.",
)
@click.option("--strategies", default=",".join(STRATEGY_NAMES), show_default=True)
@click.option("--jobs", type=int, default=1, show_default=True, help="Scenarios run in parallel.")
@click.option(
    "--conflict-probability",
    type=float,
    help="Pairwise conflict probability (grid: overrides both settings' default).",
)
@click.option(
    "--paper-window-hours",
    type=float,
    default=PAPER_WINDOW_HOURS,
    show_default=True,
    help=f"Grid: end of the paper setting's measured window (the first {PAPER_WARMUP_HOURS:g} h "
    "are warm-up).",
)
@click.option(
    "--paper-tail-hours",
    type=float,
    default=PAPER_TAIL_HOURS,
    show_default=True,
    help="Grid: arrivals continue this long after the paper setting's window.",
)
@click.option(
    "--failure-model",
    type=click.Choice([m.value for m in FailureModel]),
    default=FailureModel.AUTHOR.value,
    show_default=True,
    help="Whose changes fail: by author, or by author and folder (grid: every scenario).",
)
@click.option("--rate", type=float, help="Single scenario: changes per hour (omit for the grid).")
@click.option("--capacity", type=int, default=4, show_default=True)
@click.option("--build-minutes", type=float, default=10.0, show_default=True)
@click.option("--lognormal", is_flag=True, help="Lognormal build times (mean --build-minutes).")
@click.option("--failure-probability", type=float, default=0.1, show_default=True)
@click.option("--flaky-rate", type=float, default=0.0, show_default=True)
@click.option("--folders", type=int, help="Folder conflict model with this many folders.")
@click.option("--window-hours", type=float, default=12.0, show_default=True)
@click.option("--warmup-hours", type=float, default=1.0, show_default=True)
@click.option(
    "--tail-hours", type=float, help="Arrivals after the window  [default: max(0.5, 2 T)]."
)
@click.option(
    "--drain-hours",
    type=float,
    help=f"Run on without arrivals after the tail  [default: {DRAIN_BUILDS} T].",
)
def sim(
    seed: int,
    out_dir: Path | None,
    strategies: str,
    jobs: int,
    failure_model: str,
    **scenario: Any,
) -> None:
    """Simulate queue strategies on synthetic workloads in virtual time.

    Without --rate, runs the grid (the paper setting and a small team at p = 0.05, 0.1, 0.2);
    with --rate, one scenario built from the options. Prints a markdown table and, last, a
    RESULT line for the headline scenario (censored=1 when ours' figures are lower bounds).
    """
    model = FailureModel(failure_model)
    names = tuple(s.strip() for s in strategies.split(",") if s.strip())
    known = (*STRATEGY_NAMES, *EXTRA_STRATEGY_NAMES)
    unknown = sorted(set(names) - set(known))
    if unknown:
        fail(f"unknown strategies {', '.join(unknown)}; expected {', '.join(known)}")
    if "oracle" not in names:
        names = (*names, "oracle")  # every ratio is against it
    if jobs < 1:
        fail(f"--jobs must be at least 1, got {jobs}")
    try:
        scenarios = _scenarios(model=model, **scenario)
    except ValueError as exc:
        fail(str(exc))
    results = run_grid(scenarios, seed, names, jobs)
    click.echo(report.markdown_table(results))
    note = "" if out_dir is None else report.write_files(results, out_dir)
    if note:
        click.echo(note)
    click.echo(report.result_line(results))


def _scenarios(
    *,
    model: FailureModel,
    conflict_probability: float | None,
    paper_window_hours: float,
    paper_tail_hours: float,
    rate: float | None,
    capacity: int,
    build_minutes: float,
    lognormal: bool,
    failure_probability: float,
    flaky_rate: float,
    folders: int | None,
    window_hours: float,
    warmup_hours: float,
    tail_hours: float | None,
    drain_hours: float | None,
) -> list[Scenario]:
    """The grid, or the one scenario the options describe; ValueError names what is wrong."""
    if rate is None:
        if conflict_probability is not None:
            ConflictSpec(probability=conflict_probability)  # names a probability out of range
        try:
            return default_grid(
                conflict_probability,
                paper_window_hours,
                paper_tail_hours=paper_tail_hours,
                failure_model=model,
            )
        except ValueError as exc:
            raise ValueError(f"--paper-window-hours, --paper-tail-hours: {exc}") from None
    if capacity < 1:
        raise ValueError(f"--capacity must be at least 1, got {capacity}")
    if folders is not None:
        conflict = ConflictSpec(kind=ConflictKind.FOLDER, folders=folders)
    else:
        q = 0.3 if conflict_probability is None else conflict_probability
        conflict = ConflictSpec(probability=q)
    spec = WorkloadSpec(
        rate_per_hour=rate,
        build_minutes=build_minutes,
        failure_probability=failure_probability,
        conflict=conflict,
        build_distribution=BuildDistribution.LOGNORMAL if lognormal else BuildDistribution.FIXED,
        flaky_rate=flaky_rate,
        failure_model=model,
        warmup_hours=warmup_hours,
        window_hours=window_hours,
        tail_hours=max(0.5, 2 * build_minutes / 60) if tail_hours is None else tail_hours,
        drain_hours=DRAIN_BUILDS * build_minutes / 60 if drain_hours is None else drain_hours,
    )
    name = f"λ={rate:g}/h C={capacity} T={build_minutes:g}m p={failure_probability:g}"
    if model is not FailureModel.AUTHOR:
        name += f" risk={model.value}"
    return [
        Scenario(name=f"{name} {conflict.label()}", workload=spec, capacity=capacity, headline=True)
    ]


cli.add_command(sim)
