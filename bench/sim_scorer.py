"""Scorers side by side in the simulator: `ours` (constant), `ours+history` (learned from this
run's outcomes), `ours+history-warm` (the same, having first learned 1,000 earlier outcomes of the
same team) and `ours+rate` (the ceiling: each change's true bad rate), with the oracle, on one
scenario and seed.

    .venv/bin/python bench/sim_scorer.py --setting small --p 0.1 --seed 1
    .venv/bin/python bench/sim_scorer.py --setting paper --p 0.1 --seed 1 --model author

Ends with `RESULT history_p50_vs_ours=... history_warm_p50_vs_ours=... rate_p50_vs_ours=...` (P50
and P95 ratios of the learned and ceiling scorers against the constant one; below 1 is better).
"""

from __future__ import annotations

import argparse
import functools
import time

from sq.sim.runner import paper_scenario, run_scenario, small_team_scenario
from sq.sim.strategies import ours as engine
from sq.sim.workload import FailureModel
from sq.submitqueue.extension.scorer.history import HistoryConfig

DEFAULT_STRATEGIES = "ours,ours+history,ours+history-warm,ours+rate,oracle"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", choices=("small", "paper"), default="small")
    parser.add_argument("--p", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", choices=[m.value for m in FailureModel], default="author-folder")
    parser.add_argument("--strategies", default=DEFAULT_STRATEGIES)
    parser.add_argument(
        "--fixed-strength",
        action="store_true",
        help="history scorers with one fixed feature strength (the model before the adaptive one)",
    )
    args = parser.parse_args()
    if args.fixed_strength:
        setattr(engine, "HistoryConfig", functools.partial(HistoryConfig, adaptive=False))  # noqa: B010
    model = FailureModel(args.model)
    if args.setting == "paper":
        scenario = paper_scenario(args.p, failure_model=model)
    else:
        scenario = small_team_scenario(args.p, failure_model=model)
    names = tuple(args.strategies.split(","))
    started = time.process_time()
    result = run_scenario(scenario, args.seed, names)
    print(
        f"# {scenario.name} seed={args.seed} changes={result.changes} "
        f"bad={result.bad_share:.3f} cpu={time.process_time() - started:.0f}s (all strategies)"
    )
    oracle = result.row("oracle")
    for row in result.rows:
        x = f" ({row.p50_min / oracle.p50_min:.2f}x)" if oracle and oracle.p50_min else ""
        y = f" ({row.p95_min / oracle.p95_min:.2f}x)" if oracle and oracle.p95_min else ""
        print(
            f"{row.strategy:14} P50 {row.p50_min:6.1f}{x} P95 {row.p95_min:6.1f}{y} "
            f"builds/landed {row.builds_per_landed:.2f} landed/arrived {row.landed_vs_arrived:.2f} "
            f"wait/build/hold {row.wait_min:.1f}/{row.build_min:.1f}/{row.hold_min:.1f} "
            f"censored {row.censored} wall {result.seconds[row.strategy]:.0f}s"
            + ("" if row.verified else " UNVERIFIED")
        )
    ours = result.row("ours")
    fields = []
    for name in ("ours+history", "ours+history-warm", "ours+rate"):
        other = result.row(name)
        if ours and other:
            key = name.split("+")[1].replace("-", "_")
            fields.append(f"{key}_p50_vs_ours={other.p50_min / ours.p50_min:.3f}")
            fields.append(f"{key}_p95_vs_ours={other.p95_min / ours.p95_min:.3f}")
            fields.append(f"{key}_builds_per_landed={other.builds_per_landed:.2f}")
    if ours:
        fields.append(f"ours_builds_per_landed={ours.builds_per_landed:.2f}")
    print("RESULT " + " ".join(fields))


if __name__ == "__main__":
    main()
