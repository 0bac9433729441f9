"""Batching in the simulator (issue 20): ours with and without batches, side by side; RESULT last.

    uv run --frozen --no-sync python bench/batching.py [--seed 1] [--jobs 2] [--quick]
        [--paper-window-hours 2] [--paper-tail-hours 1]

One run, one workload per setting, every strategy on it: the paper setting (500 changes/hour,
500 workers, 30-minute builds, q = 0.03) at p = 0.05 and p = 0.2 with `ours` (no batching),
`ours+batch` (the recommended policy, likeliest-culprit split), `ours+batch-halves` (same policy,
blind halves), `bisect` (the bors-style peer) and the oracle. Prints the markdown table and ends
with

    RESULT p05_builds_per_landed=… p05_nobatch_builds_per_landed=… p05_batch_p50_vs_nobatch=…
        p20_batch_p50_vs_nobatch=… p20_batch_builds_vs_nobatch=… likeliest_vs_halves_builds=…
        bisect_p05_builds_per_landed=… censored=…

(`p05_builds_per_landed` is ours+batch's; ratios are batch over no batch on the same workload;
`likeliest_vs_halves_builds` is builds per landed change at p = 0.05, likeliest over halves;
censored=1 when any of ours' P50s is a lower bound). `--quick` runs the small team (20/h, 4
workers, 10-minute builds, q = 0.3) over 6 hours instead: minutes, not the paper figures.
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
    Scenario,
    ScenarioResult,
    paper_scenario,
    run_grid,
    small_team_scenario,
)

STRATEGIES = ("ours", "ours+batch", "ours+batch-halves", "bisect", "oracle")
QUICK_WHAT = "the small team over 6 hours instead of the paper setting"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--paper-window-hours", type=float, default=PAPER_WINDOW_HOURS)
    parser.add_argument("--paper-tail-hours", type=float, default=PAPER_TAIL_HOURS)
    args = parse_with_quick(parser, {}, what=QUICK_WHAT)

    started = time.perf_counter()
    scenarios: list[Scenario]
    if args.quick:
        scenarios = [small_team_scenario(p, window_hours=6.0) for p in (0.05, 0.2)]
    else:
        scenarios = [
            paper_scenario(p, window_hours=args.paper_window_hours, tail_hours=args.paper_tail_hours)
            for p in (0.05, 0.2)
        ]
    results = run_grid(scenarios, args.seed, STRATEGIES, jobs=args.jobs)
    print(report.markdown_table(results))
    cpu = ", ".join(
        f"{name} {r.seconds[name]:.0f} s" for r in results[:1] for name in STRATEGIES
    )
    print(
        f"seed {args.seed}; {len(scenarios)} scenarios in {time.perf_counter() - started:.0f} s "
        f"wall ({args.jobs} jobs); wall per strategy at p = 0.05: {cpu}"
    )
    print(result_line(results[0], results[1]))


def _row(result: ScenarioResult, name: str) -> StrategyMetrics:
    row = result.row(name)
    assert row is not None, name
    return row


def result_line(low: ScenarioResult, high: ScenarioResult) -> str:
    """The RESULT line from the p = 0.05 and p = 0.2 results."""
    batch, plain = _row(low, "ours+batch"), _row(low, "ours")
    halves, bisect = _row(low, "ours+batch-halves"), _row(low, "bisect")
    batch20, plain20 = _row(high, "ours+batch"), _row(high, "ours")
    ours = (batch, plain, halves, batch20, plain20)
    censored = int(any(m.censored for m in ours))
    unverified = int(any(not m.verified for m in ours))
    return (
        f"RESULT p05_builds_per_landed={batch.builds_per_landed:.2f} "
        f"p05_nobatch_builds_per_landed={plain.builds_per_landed:.2f} "
        f"p05_batch_p50_vs_nobatch={batch.p50_min / plain.p50_min:.2f} "
        f"p20_batch_p50_vs_nobatch={batch20.p50_min / plain20.p50_min:.2f} "
        f"p20_batch_builds_vs_nobatch={batch20.builds_per_landed / plain20.builds_per_landed:.2f} "
        f"likeliest_vs_halves_builds={batch.builds_per_landed / halves.builds_per_landed:.2f} "
        f"bisect_p05_builds_per_landed={bisect.builds_per_landed:.2f} "
        f"censored={censored} unverified={unverified}"
    )


if __name__ == "__main__":
    main()
