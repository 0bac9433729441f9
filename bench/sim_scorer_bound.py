"""How much of our engine's gap to the oracle is the scorer's: ours with sharper scorers.

    uv run --frozen --no-sync python bench/sim_scorer_bound.py [--p 0.1] [--seed 1]
        [--setting paper|small] [--scorers constant,author,perfect] [--quick]

Runs `ours` (the value speculator, unchanged) on one grid scenario with each scorer, beside the
oracle, in one process on one workload: `constant` is the simulator's own (every change lands
with 1 - p); `author` knows each author's true failure rate (the workload's hidden draw, so the
best any scorer learning from authors could do); `perfect` knows whether each change is good
(0.999 / 0.001). Sim-only bounds, not scorers to ship: they read the workload's secrets. The
difference between rows is what a sharper failure prediction is worth to the same value model.
Ends with `RESULT <scorer>_p50_vs_oracle=… <scorer>_builds_per_landed=…
<scorer>_landed_vs_arrived=… censored=<0|1>` (1 when any row's figures are lower bounds).
`--quick` runs the small team.
"""

from __future__ import annotations

import argparse
import random
import time

from benchargs import parse_with_quick
from sq.sim.ledger import Ledger
from sq.sim.metrics import StrategyMetrics, measure
from sq.sim.runner import make_strategy, paper_scenario, small_team_scenario
from sq.sim.strategies import ours
from sq.sim.workload import FailureModel, Workload, _author_failure_rates, generate
from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.extension.scorer import Scorer

SCORERS = ("constant", "author", "perfect")


class _Perfect:
    """Knows the truth: 0.999 for a good change, 0.001 for a bad one."""

    def __init__(self, queue: ours._EngineQueue) -> None:
        self._queue = queue

    def score(self, batch: Batch) -> float:
        change = self._queue.workload.changes[self._queue.change_of[batch.id]]
        return 0.999 if change.good else 0.001


class _AuthorRate:
    """Knows each author's true failure rate (the author model's first draw from the seed)."""

    def __init__(self, queue: ours._EngineQueue) -> None:
        self._queue = queue
        workload = queue.workload
        self._rates = _author_failure_rates(workload.spec, random.Random(workload.seed))

    def score(self, batch: Batch) -> float:
        change = self._queue.workload.changes[self._queue.change_of[batch.id]]
        return 1.0 - self._rates[int(change.author.removeprefix("a"))]


def _run(kind: str, workload: Workload, capacity: int) -> tuple[StrategyMetrics, float]:
    original = ours._EngineQueue._scorer
    makers = {"author": _AuthorRate, "perfect": _Perfect}
    if kind in makers:
        maker = makers[kind]

        def sharp(self: ours._EngineQueue, _: ours.ScorerKind) -> Scorer:
            return maker(self)

        ours._EngineQueue._scorer = sharp  # type: ignore[method-assign]
    try:
        strategy = make_strategy("ours" if kind in SCORERS else kind, capacity)
        ledger = Ledger()
        started = time.process_time()
        strategy.run(workload, ledger)
        return measure(strategy.name, workload, ledger), time.process_time() - started
    finally:
        ours._EngineQueue._scorer = original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--setting", choices=("paper", "small"), default="paper")
    parser.add_argument("--scorers", default=",".join(SCORERS))
    args = parse_with_quick(parser, {"setting": "small"})
    kinds = [k for k in args.scorers.split(",") if k]
    unknown = sorted(set(kinds) - set(SCORERS))
    if unknown or not kinds:
        parser.error(f"--scorers: expected some of {','.join(SCORERS)}, got {args.scorers!r}")

    scenario = paper_scenario(args.p) if args.setting == "paper" else small_team_scenario(args.p)
    if scenario.workload.failure_model is not FailureModel.AUTHOR:
        parser.error("the author-rate scorer knows the author failure model only")
    workload = generate(scenario.workload, args.seed)
    oracle, _ = _run("oracle", workload, scenario.capacity)
    print(f"{scenario.name} seed {args.seed}: oracle P50 {oracle.p50_min:.1f} min")
    print("| scorer | landed ÷ arrived | P50 min (x oracle) | builds/landed | cpu s |")
    print("|---|--:|--:|--:|--:|")
    result: list[str] = []
    censored = False
    for kind in kinds:
        m, cpu = _run(kind, workload, scenario.capacity)
        censored |= m.censored > 0
        ratio = m.p50_min / oracle.p50_min
        bound = "≥" if m.censored else ""
        print(
            f"| {kind} | {m.landed_vs_arrived:.2f} | {bound}{m.p50_min:.1f} ({ratio:.2f}x) "
            f"| {m.builds_per_landed:.2f} | {cpu:.0f} |"
        )
        result += [
            f"{kind}_p50_vs_oracle={ratio:.2f}",
            f"{kind}_builds_per_landed={m.builds_per_landed:.2f}",
            f"{kind}_landed_vs_arrived={m.landed_vs_arrived:.2f}",
        ]
    print("RESULT " + " ".join(result) + f" censored={int(censored)}")


if __name__ == "__main__":
    main()
