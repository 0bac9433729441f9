"""How well each scorer predicts, outside the queue: every change of a workload is scored when it
arrives, from the outcomes known by then (each change's outcome is learned `--delay` minutes after
it arrived), and the predictions of the measured changes are scored against what they were.

    .venv/bin/python bench/scorer_curve.py --setting paper --p 0.1 --seeds 1,2,3 --warm 1000

Scorers: the constant 1 - p; the history scorer (adaptive shrinkage, and the fixed one it
replaced); the ceiling (each change's true bad rate). Figures are means over the seeds: log loss
and Brier (lower is better), AUC (how often a bad change scores below a good one), and the share of
bad changes scored below 0.5 (the only ones whose dependents' first build leaves them out).
Ends with `RESULT history_logloss=... fixed_logloss=... rate_logloss=... constant_logloss=...`.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import math
from collections.abc import Callable

from sq.sim.runner import paper_scenario, small_team_scenario
from sq.sim.workload import MINUTE_MS, Change, FailureModel, Workload, generate, prehistory
from sq.submitqueue.entity.batch import batch_id
from sq.submitqueue.extension.scorer.history import HistoryConfig, HistoryScorer
from sq.submitqueue.extension.scorer.outcomes import (
    BatchFeatures,
    BatchOutcome,
    MemoryOutcomeStore,
)

Predict = Callable[[Change], float]


def features(change: Change) -> BatchFeatures:
    return BatchFeatures(
        author=change.author, areas=frozenset(change.areas), lines_changed=change.lines_changed
    )


def learned(workload: Workload, config: HistoryConfig, delay_ms: int, warm: int) -> list[float]:
    scorer = HistoryScorer(lambda b: BatchFeatures(), MemoryOutcomeStore(), config)
    n = 0

    def record(change: Change) -> None:
        nonlocal n
        n += 1
        outcome = BatchOutcome(
            batch_id=batch_id("curve", n),
            features=features(change),
            succeeded=change.good,
            recorded_at_ms=0,
        )
        scorer.record(outcome)

    for change in prehistory(workload.spec, workload.seed, warm):
        record(change)
    pending: list[tuple[int, int]] = []
    out: list[float] = []
    for change in workload.changes:
        while pending and pending[0][0] <= change.arrival_ms:
            record(workload.changes[heapq.heappop(pending)[1]])
        out.append(scorer.probability(features(change)))
        heapq.heappush(pending, (change.arrival_ms + delay_ms, change.index))
    return out


def scores(predicted: list[float], good: list[bool]) -> tuple[float, float, float, float]:
    clipped = [min(max(q, 1e-3), 1 - 1e-3) for q in predicted]
    n = len(good)
    loss = -sum(math.log(q if y else 1 - q) for q, y in zip(clipped, good, strict=True)) / n
    brier = sum((q - y) ** 2 for q, y in zip(predicted, good, strict=True)) / n
    goods = sorted(q for q, y in zip(predicted, good, strict=True) if y)
    bads = [q for q, y in zip(predicted, good, strict=True) if not y]
    below = 0.0
    for b in bads:
        lo, hi = bisect.bisect_left(goods, b), bisect.bisect_right(goods, b)
        below += lo + 0.5 * (hi - lo)
    auc = 1 - below / (len(goods) * len(bads)) if bads and goods else math.nan
    flagged = sum(1 for b in bads if b < 0.5) / len(bads) if bads else math.nan
    return loss, brier, auc, flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setting", choices=("small", "paper"), default="small")
    parser.add_argument("--p", type=float, default=0.1)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--model", choices=[m.value for m in FailureModel], default="author-folder")
    parser.add_argument("--warm", type=int, default=0, help="earlier outcomes learned first")
    parser.add_argument("--delay", type=float, help="minutes to an outcome (default 3 builds)")
    args = parser.parse_args()
    model = FailureModel(args.model)
    make = paper_scenario if args.setting == "paper" else small_team_scenario
    scenario = make(args.p, failure_model=model)
    delay_ms = round((args.delay or 3 * scenario.workload.build_minutes) * MINUTE_MS)
    prior = HistoryConfig(prior_mean=1 - args.p)
    configs = {"history": prior, "fixed": HistoryConfig(prior_mean=1 - args.p, adaptive=False)}
    totals: dict[str, list[float]] = {}
    seeds = [int(s) for s in args.seeds.split(",")]
    for seed in seeds:
        workload = generate(scenario.workload, seed)
        keep = [i for i, c in enumerate(workload.changes) if workload.measured(c)]
        good = [workload.changes[i].good for i in keep]
        predicted = {
            "constant": [1 - args.p] * len(workload.changes),
            "rate": [1 - c.bad_rate for c in workload.changes],
        }
        for name, config in configs.items():
            predicted[name] = learned(workload, config, delay_ms, args.warm)
        for name, values in predicted.items():
            figures = scores([values[i] for i in keep], good)
            total = totals.setdefault(name, [0.0] * len(figures))
            for k, value in enumerate(figures):
                total[k] += value / len(seeds)
    delay = f"{delay_ms / MINUTE_MS:g}min"
    print(f"# {scenario.name} seeds={args.seeds} warm={args.warm} delay={delay}")
    for name, (loss, brier, auc, flagged) in totals.items():
        print(f"{name:9} logloss {loss:.4f} brier {brier:.4f} auc {auc:.3f} bad<0.5 {flagged:.2f}")
    fields = (f"{name}_logloss={t[0]:.4f} {name}_auc={t[2]:.3f}" for name, t in totals.items())
    print("RESULT " + " ".join(fields))


if __name__ == "__main__":
    main()
