"""What the queue controls cost and save, in the simulator (doc/controls.md).

Flaky-build retry: the small-team workload with a flaky-build rate, our engine with 0, 1 and 2
retries: changes landed, good changes rejected (false rejections), builds per landed change and
turnaround. Priority lane: the same workload with a share of high-priority changes: median
turnaround of high and normal changes and builds per landed change, for both speculators, next to
the same workload with no high changes. Virtual time: the figures do not depend on machine load.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

from benchargs import parse_with_quick
from sq.sim.ledger import Ledger
from sq.sim.metrics import measure, verify
from sq.sim.runner import make_strategy, run_scenario, small_team_scenario
from sq.sim.workload import MINUTE_MS, Workload, generate


def _median_minutes(w: Workload, ledger: Ledger, *, high: bool) -> float:
    waits = [
        (ledger.landed_at[c.index] - c.arrival_ms) / MINUTE_MS
        for c in w.changes
        if w.measured(c) and c.high is high and c.index in ledger.landed_at
    ]
    return statistics.median(waits) if waits else float("nan")


def flaky(hours: float, seed: int, rates: list[float]) -> None:
    print("flaky_rate strategy landed rejected good_rejected builds_per_landed p50_min p95_min")
    for rate in rates:
        scenario = small_team_scenario(0.1, flaky=rate, window_hours=hours)
        result = run_scenario(scenario, seed, ("ours", "ours+retry1", "ours+retry2"))
        for row in result.rows:
            print(
                f"{rate:g} {row.strategy} {row.landed} {row.rejected} {row.false_rejections} "
                f"{row.builds_per_landed:.2f} {row.p50_min:.1f} {row.p95_min:.1f}"
            )


def priority(hours: float, seed: int, share: float) -> None:
    print("high_share strategy high_p50_min normal_p50_min builds_per_landed violations")
    scenario = small_team_scenario(0.1, window_hours=hours)
    for high_share in (0.0, share):
        w = generate(dataclasses.replace(scenario.workload, high_share=high_share), seed)
        for name in ("ours", "ours-standard"):
            ledger = Ledger()
            make_strategy(name, scenario.capacity).run(w, ledger)
            row = measure(name, w, ledger)
            print(
                f"{high_share:g} {name} {_median_minutes(w, ledger, high=True):.1f} "
                f"{_median_minutes(w, ledger, high=False):.1f} {row.builds_per_landed:.2f} "
                f"{len(verify(w, ledger))}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=6.0, help="measured window + warmup")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--flaky", type=float, nargs="+", default=[0.05, 0.1])
    parser.add_argument("--high-share", type=float, default=0.1)
    args = parse_with_quick(parser, {"hours": 3.0, "flaky": [0.1]})
    flaky(args.hours, args.seed, args.flaky)
    priority(args.hours, args.seed, args.high_share)
    print(f"RESULT name=controls_sim hours={args.hours:g} seed={args.seed}")


if __name__ == "__main__":
    main()
