"""Speculation simulator benchmark: every strategy on the headline grid; RESULT line last.

    uv run --frozen --no-sync python bench/simulate.py [--seed 1] [--jobs 2] [--out bench/out/sim]
        [--paper-window-hours 3.5] [--paper-tail-hours 1] [--failure-model author|author-folder]
        [--strategies ours,ours+batch,...]

Runs the paper setting (500 changes/hour, 500 workers, 30-minute builds, p = 0.05/0.1/0.2) and
the small-team setting (20 changes/hour, 4 workers, 10-minute builds), prints the markdown table,
writes the CSV and chart, and ends with the RESULT line for the headline (paper, p = 0.1):
ours' P50 and P95 against the oracle, builds per landed change, landed ÷ arrived, the peers' P50
against the oracle, and censored=1 when any of ours' figures is a lower bound.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from benchargs import parse_with_quick
from sq.sim import report
from sq.sim.runner import (
    EXTRA_STRATEGY_NAMES,
    PAPER_TAIL_HOURS,
    PAPER_WINDOW_HOURS,
    STRATEGY_NAMES,
    default_grid,
    run_grid,
    small_team_scenario,
)
from sq.sim.workload import FailureModel

QUICK_WHAT = "only the small team at p = 0.1 over 6 hours, whose figures the RESULT line then gives"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/out/sim"))
    parser.add_argument("--conflict-probability", type=float, default=None)
    parser.add_argument("--paper-window-hours", type=float, default=PAPER_WINDOW_HOURS)
    parser.add_argument("--paper-tail-hours", type=float, default=PAPER_TAIL_HOURS)
    parser.add_argument(
        "--failure-model", choices=[m.value for m in FailureModel], default=FailureModel.AUTHOR
    )
    parser.add_argument(
        "--strategies",
        default=",".join(STRATEGY_NAMES),
        help=f"comma-separated; also {', '.join(EXTRA_STRATEGY_NAMES)} (the oracle always runs)",
    )
    args = parse_with_quick(parser, {}, what=QUICK_WHAT)
    names = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    unknown = sorted(set(names) - {*STRATEGY_NAMES, *EXTRA_STRATEGY_NAMES})
    if unknown:
        parser.error(f"unknown strategies {', '.join(unknown)}")
    if "oracle" not in names:
        names = (*names, "oracle")  # every ratio is against it

    started = time.perf_counter()
    try:
        grid = default_grid(
            args.conflict_probability,
            args.paper_window_hours,
            paper_tail_hours=args.paper_tail_hours,
            failure_model=FailureModel(args.failure_model),
        )
    except ValueError as exc:
        parser.error(f"--paper-window-hours: {exc}")
    if args.quick:  # the paper setting (500 workers) takes many minutes even when shortened
        grid = [dataclasses.replace(small_team_scenario(0.1, window_hours=6.0), headline=True)]
    results = run_grid(grid, args.seed, names, jobs=args.jobs)
    print(report.markdown_table(results))
    note = report.write_files(results, args.out)
    if note:
        print(note)
    slowest = max((s, name, r.scenario.name) for r in results for name, s in r.seconds.items())
    print(
        f"seed {args.seed}; {len(grid)} scenarios in {time.perf_counter() - started:.0f} s wall "
        f"({args.jobs} jobs); slowest: {slowest[1]} on {slowest[2]} {slowest[0]:.0f} s"
    )
    print(report.result_line(results))


if __name__ == "__main__":
    main()
