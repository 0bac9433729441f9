"""Batching in the simulator (issue 20): ours with and without batches, side by side; RESULT last.

    uv run --frozen --no-sync python bench/batching.py [--seed 1] [--jobs 2] [--quick]
        [--paper-window-hours 3.5] [--paper-tail-hours 1]

One run, one workload per setting, every strategy on it: the paper setting (500 changes/hour,
500 workers, 30-minute builds, q = 0.03) at p = 0.05 and p = 0.2 with `ours` (no batching),
`ours+batch` (the recommended policy, likeliest-culprit split), `bisect` (the bors-style peer)
and the oracle; then the small team (20/h, 4 workers, 10-minute builds, q = 0.3, failure rates
by author and folder) at p = 0.05 and 0.2 with the same and the history scorer, batching with
either split (`…+batch-halves`: blind halves); then CI short of workers (the paper's shape at
500/h with 200 workers, where one build per change would need 250, p = 0.05, conflict density
q·λ·T = 1.25), where `ours+batch` goes deep (pairs, doc/batching.md). Prints the markdown
table and ends with

    RESULT p05_builds_per_landed=… p05_nobatch_builds_per_landed=… p05_batch_p50_vs_nobatch=…
        p20_batch_p50_vs_nobatch=… p20_batch_builds_vs_nobatch=… likeliest_vs_halves_builds=…
        bisect_p05_builds_per_landed=… short_batch_landed_vs_arrived=…
        short_nobatch_landed_vs_arrived=… short_batch_p50_vs_nobatch=… censored=…

(`p05_builds_per_landed` is ours+batch's; ratios are batch over no batch on the same workload,
`short_…` those of CI short of workers;
`likeliest_vs_halves_builds` is builds per landed change of ours+history+batch over
ours+history+batch-halves on the small team at p = 0.05; censored=1 when any of ours' P50s is a
lower bound, unverified=1 when any landing was not justified). `--quick` runs the small team over
6 hours in place of the paper setting, and CI short of workers at 100/h on 40 workers: a minute
or two, not the paper figures.
"""

from __future__ import annotations

import argparse
import time

from benchargs import parse_with_quick
from sq.sim import report
from sq.sim.metrics import StrategyMetrics
from sq.sim.runner import (
    PAPER_TAIL_HOURS,
    PAPER_WINDOW_HOURS,
    ScenarioResult,
    paper_scenario,
    run_grid,
    short_of_workers_scenario,
    small_team_scenario,
)
from sq.sim.workload import FailureModel

PAPER = ("ours", "ours+batch", "bisect", "oracle")
"""With the constant scorer every member is equally likely, so `ours+batch-halves` makes exactly
the cuts of `ours+batch`; the two splits are compared where the scorer tells members apart."""
SMALL = (
    "ours",
    "ours+batch",
    "ours+batch-halves",
    "ours+history",
    "ours+history+batch",
    "ours+history+batch-halves",
    "bisect",
    "oracle",
)
QUICK_WHAT = "the small team over 6 hours in place of the paper setting"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--paper-window-hours", type=float, default=PAPER_WINDOW_HOURS)
    parser.add_argument("--paper-tail-hours", type=float, default=PAPER_TAIL_HOURS)
    args = parse_with_quick(parser, {}, what=QUICK_WHAT)

    started = time.perf_counter()
    if args.quick:
        main_grid = [small_team_scenario(p, window_hours=6.0) for p in (0.05, 0.2)]
    else:
        window, tail = args.paper_window_hours, args.paper_tail_hours
        try:
            main_grid = [
                paper_scenario(p, window_hours=window, tail_hours=tail) for p in (0.05, 0.2)
            ]
        except ValueError as exc:
            parser.error(f"--paper-window-hours: {exc}")
    results = run_grid(main_grid, args.seed, PAPER, jobs=args.jobs)
    # Likeliest against halves: the small team, failure rates by author and folder, so that the
    # history scorer tells a batch's members apart; cheap (seconds), so always the full window.
    split_grid = [
        small_team_scenario(0.05, failure_model=FailureModel.AUTHOR_FOLDER),
        small_team_scenario(0.2, failure_model=FailureModel.AUTHOR_FOLDER),
    ]
    splits = run_grid(split_grid, args.seed, SMALL, jobs=1)
    short = short_of_workers_scenario(**({"rate": 100.0, "capacity": 40} if args.quick else {}))
    [scarce] = run_grid([short], args.seed, PAPER, jobs=args.jobs)
    print(report.markdown_table([*results, *splits, scarce]))
    seconds = ", ".join(f"{name} {results[0].seconds[name]:.0f} s" for name in PAPER)
    print(
        f"seed {args.seed}; {time.perf_counter() - started:.0f} s wall ({args.jobs} jobs); "
        f"wall per strategy on {results[0].scenario.name}: {seconds}"
    )
    print(result_line(results[0], results[1], splits[0], scarce))


def _row(result: ScenarioResult, name: str) -> StrategyMetrics:
    row = result.row(name)
    assert row is not None, name
    return row


def result_line(
    low: ScenarioResult, high: ScenarioResult, split: ScenarioResult, short: ScenarioResult
) -> str:
    """The RESULT line from the p = 0.05 and p = 0.2 results, the split comparison and CI short
    of workers."""
    batch, plain, bisect = _row(low, "ours+batch"), _row(low, "ours"), _row(low, "bisect")
    batch20, plain20 = _row(high, "ours+batch"), _row(high, "ours")
    likeliest = _row(split, "ours+history+batch")
    halves = _row(split, "ours+history+batch-halves")
    short_batch, short_plain = _row(short, "ours+batch"), _row(short, "ours")
    ours = (batch, plain, batch20, plain20, likeliest, halves, short_batch, short_plain)
    censored = int(any(m.censored for m in ours))
    unverified = int(any(not m.verified for m in ours))
    return (
        f"RESULT p05_builds_per_landed={batch.builds_per_landed:.2f} "
        f"p05_nobatch_builds_per_landed={plain.builds_per_landed:.2f} "
        f"p05_batch_p50_vs_nobatch={batch.p50_min / plain.p50_min:.2f} "
        f"p20_batch_p50_vs_nobatch={batch20.p50_min / plain20.p50_min:.2f} "
        f"p20_batch_builds_vs_nobatch={batch20.builds_per_landed / plain20.builds_per_landed:.2f} "
        f"likeliest_vs_halves_builds={likeliest.builds_per_landed / halves.builds_per_landed:.2f} "
        f"bisect_p05_builds_per_landed={bisect.builds_per_landed:.2f} "
        f"short_batch_landed_vs_arrived={short_batch.landed_vs_arrived:.2f} "
        f"short_nobatch_landed_vs_arrived={short_plain.landed_vs_arrived:.2f} "
        f"short_batch_p50_vs_nobatch={short_batch.p50_min / short_plain.p50_min:.2f} "
        f"censored={censored} unverified={unverified}"
    )


if __name__ == "__main__":
    main()
