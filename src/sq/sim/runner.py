"""Scenarios and the grid: every strategy on the same workload and seed."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sq.sim.ledger import Ledger
from sq.sim.metrics import StrategyMetrics, measure
from sq.sim.strategies import Strategy
from sq.sim.strategies.bisect import BisectStrategy
from sq.sim.strategies.optimistic import OptimisticStrategy
from sq.sim.strategies.oracle import OracleStrategy
from sq.sim.strategies.ours import ScorerKind, SpeculatorKind, SpeculatorStrategy
from sq.sim.strategies.serial import SerialStrategy
from sq.sim.workload import (
    BuildDistribution,
    ConflictKind,
    ConflictSpec,
    FailureModel,
    WorkloadSpec,
    generate,
)
from sq.submitqueue.core.batching import DEFAULT_DEEP_LOAD, RECOMMENDED, BatchPolicy, SplitRule

STRATEGY_NAMES = (
    "serial",
    "optimistic",
    "bisect",
    "ours",
    "ours-standard",
    "ours+history",
    "oracle",
)
EXTRA_STRATEGY_NAMES = (
    "ours+early",
    "ours-standard+early",
    "ours+exact",
    "ours+batch",
    "ours+batch-halves",
    "ours+history+batch",
    "ours+history+batch-halves",
    "ours+history-warm",
    "ours+rate",
)
"""Run only when asked for (`--strategies`): ours with early landing when covered; ours landing
exact trees only (any landing its build did not include sends a head back to build, as the git
merger's check does; doc/speculation.md, "Exact trees and independent lanes"); the history
scorer having learned the team's earlier outcomes first; the ceiling scorer (each change's true
bad rate); ours with
batching (doc/batching.md), splitting a failed batch around its likeliest culprit or in halves,
with the constant scorer (every member equally likely: both splits are the same cut) or the
history scorer."""
BATCHING: BatchPolicy = RECOMMENDED
"""The batch policy of `ours+batch` (core/batching.py's recommended settings)."""
DEEP_LOAD = DEFAULT_DEEP_LOAD
"""`ours+batch` goes deep from this many arrivals per build time per worker."""
PAPER_CONFLICT = 0.03
"""Pairwise conflict chance for the paper setting: 1 - 0.97**16 ≈ 0.39, the slides' "40% chance
of a problem at 16 concurrent changes"."""
SMALL_TEAM_CONFLICT = 0.3
"""A small repository: about one in three pairs of changes touch the same targets."""
PAPER_WARMUP_HOURS = 2.0
"""The paper setting's warm-up: four build times. `landed_vs_arrived` compares the landings inside
the window with the arrivals in it, which is fair only once the queue has filled to its steady
backlog before the window opens; a queue whose turnaround L is longer than the warm-up has not,
and the ratio then reads about 1 - (L - warm-up) / window even if the queue keeps up, while its
percentiles are those of a queue still filling (doc/benchmarks.md, "Operating envelope")."""
PAPER_WINDOW_HOURS = PAPER_WARMUP_HOURS + 1.5
PAPER_TAIL_HOURS = 1.0
DRAIN_BUILDS = 4
"""Runs end this many build times after the last arrival: time for a queue that keeps up to land
what it measured, even after a failure or two ahead of it, so its figures are not censored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    workload: WorkloadSpec
    capacity: int
    headline: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioResult:
    scenario: Scenario
    seed: int
    changes: int
    bad_share: float
    rows: tuple[StrategyMetrics, ...]
    seconds: dict[str, float]

    def row(self, strategy: str) -> StrategyMetrics | None:
        return next((r for r in self.rows if r.strategy == strategy), None)


def make_strategy(name: str, capacity: int) -> Strategy:
    makers: dict[str, Callable[[], Strategy]] = {
        "serial": SerialStrategy,
        "optimistic": lambda: OptimisticStrategy(capacity),
        "bisect": lambda: BisectStrategy(capacity),
        "ours": lambda: SpeculatorStrategy(capacity),
        "ours+history": lambda: SpeculatorStrategy(capacity, ScorerKind.HISTORY),
        "ours+history-warm": lambda: SpeculatorStrategy(capacity, ScorerKind.HISTORY_WARM),
        "ours+rate": lambda: SpeculatorStrategy(capacity, ScorerKind.RATE),
        "ours-standard": lambda: SpeculatorStrategy(capacity, speculator=SpeculatorKind.STANDARD),
        "ours+early": lambda: SpeculatorStrategy(capacity, early_landing=True),
        "ours+exact": lambda: SpeculatorStrategy(capacity, exact_trees=True),
        "ours-standard+early": lambda: SpeculatorStrategy(
            capacity, speculator=SpeculatorKind.STANDARD, early_landing=True
        ),
        "ours+retry1": lambda: SpeculatorStrategy(capacity, flaky_retries=1),
        "ours+retry2": lambda: SpeculatorStrategy(capacity, flaky_retries=2),
        "ours+batch": lambda: _batching(capacity, "ours+batch"),
        "ours+batch-halves": lambda: _batching(capacity, "ours+batch-halves"),
        "ours+history+batch": lambda: _batching(capacity, "ours+history+batch"),
        "ours+history+batch-halves": lambda: _batching(capacity, "ours+history+batch-halves"),
        "oracle": lambda: OracleStrategy(capacity),
    }
    if name not in makers:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(makers)}")
    return makers[name]()


def _batching(capacity: int, name: str) -> Strategy:
    """`ours[+history]+batch[-halves]`: our engine with the recommended batch policy, deep
    batching from one arrival per worker per build time (`DEEP_LOAD`)."""
    rule = SplitRule.HALVES if name.endswith("-halves") else SplitRule.LIKELIEST
    scorer = ScorerKind.HISTORY if "+history" in name else ScorerKind.CONSTANT
    policy = dataclasses.replace(BATCHING, split=rule)
    return SpeculatorStrategy(capacity, scorer, batching=policy, deep_load=DEEP_LOAD, name=name)


def run_scenario(
    scenario: Scenario, seed: int, strategies: Sequence[str] = STRATEGY_NAMES
) -> ScenarioResult:
    workload = generate(scenario.workload, seed)
    rows: list[StrategyMetrics] = []
    seconds: dict[str, float] = {}
    for name in strategies:
        strategy = make_strategy(name, scenario.capacity)
        ledger = Ledger()
        started = time.perf_counter()
        strategy.run(workload, ledger)
        seconds[name] = time.perf_counter() - started
        rows.append(measure(strategy.name, workload, ledger))
    bad = sum(1 for c in workload.changes if not c.good)
    return ScenarioResult(
        scenario=scenario,
        seed=seed,
        changes=len(workload.changes),
        bad_share=bad / max(1, len(workload.changes)),
        rows=tuple(rows),
        seconds=seconds,
    )


def run_grid(
    scenarios: Iterable[Scenario],
    seed: int,
    strategies: Sequence[str] = STRATEGY_NAMES,
    jobs: int = 1,
) -> list[ScenarioResult]:
    """Run every scenario; results in scenario order. With `jobs` > 1, each strategy on each
    scenario is its own task (the workload is regenerated from the seed in each), our engine's
    paper-setting runs first, so one slow scenario does not hold its cheap strategies back."""
    items = list(scenarios)
    if jobs <= 1:
        return [run_scenario(s, seed, strategies) for s in items]
    tasks = sorted(
        ((k, name) for k in range(len(items)) for name in strategies),
        key=lambda t: (not t[1].startswith("ours"), -items[t[0]].workload.rate_per_hour),
    )
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {t: pool.submit(run_scenario, items[t[0]], seed, (t[1],)) for t in tasks}
        done = {t: f.result() for t, f in futures.items()}
    return [_merged([done[(k, name)] for name in strategies]) for k in range(len(items))]


def _merged(parts: Sequence[ScenarioResult]) -> ScenarioResult:
    return dataclasses.replace(
        parts[0],
        rows=tuple(row for part in parts for row in part.rows),
        seconds={name: s for part in parts for name, s in part.seconds.items()},
    )


def paper_scenario(
    p: float,
    conflict: float = PAPER_CONFLICT,
    window_hours: float = PAPER_WINDOW_HOURS,
    *,
    tail_hours: float = PAPER_TAIL_HOURS,
    failure_model: FailureModel = FailureModel.AUTHOR,
) -> Scenario:
    """EuroSys 2019 setting: 500 changes/hour, 500 workers, 30-minute builds."""
    spec = WorkloadSpec(
        rate_per_hour=500,
        build_minutes=30,
        failure_probability=p,
        conflict=ConflictSpec(probability=conflict),
        failure_model=failure_model,
        warmup_hours=PAPER_WARMUP_HOURS,
        window_hours=window_hours,
        tail_hours=tail_hours,
        drain_hours=DRAIN_BUILDS * 30 / 60,
    )
    return Scenario(
        name=f"paper p={p:g} q={conflict:g}{_label(failure_model)}", workload=spec, capacity=500
    )


def short_of_workers_scenario(
    p: float = 0.05, *, rate: float = 500.0, capacity: int = 200, density: float = 1.25
) -> Scenario:
    """The paper setting's shape with fewer workers than one build per change needs (λ·T above
    `capacity`: at 500/h and 30-minute builds, 250 builds at once), at conflict density
    q·λ·T = `density`: where a queue keeps up only by building several changes together."""
    build_hours = paper_scenario(p).workload.build_minutes / 60
    base = paper_scenario(p, density / (rate * build_hours))
    spec = dataclasses.replace(base.workload, rate_per_hour=rate)
    name = f"short CI λ={rate:g}/h C={capacity} p={p:g} d={density:g}"
    return Scenario(name=name, workload=spec, capacity=capacity)


def small_team_scenario(
    p: float,
    conflict: ConflictSpec | None = None,
    *,
    lognormal: bool = False,
    flaky: float = 0.0,
    window_hours: float = 42.0,
    failure_model: FailureModel = FailureModel.AUTHOR,
) -> Scenario:
    """20 changes/hour, 4 CI workers, 10-minute builds (so C ≈ λ·T)."""
    conflict = conflict or ConflictSpec(probability=SMALL_TEAM_CONFLICT)
    spec = WorkloadSpec(
        rate_per_hour=20,
        build_minutes=10,
        failure_probability=p,
        conflict=conflict,
        build_distribution=BuildDistribution.LOGNORMAL if lognormal else BuildDistribution.FIXED,
        flaky_rate=flaky,
        failure_model=failure_model,
        warmup_hours=2.0,
        window_hours=window_hours,
        tail_hours=3.0,
        drain_hours=DRAIN_BUILDS * 10 / 60,
    )
    extra = (" lognormal" if lognormal else "") + (f" f={flaky:g}" if flaky else "")
    name = f"small p={p:g} {conflict.label()}{extra}{_label(failure_model)}"
    return Scenario(name=name, workload=spec, capacity=4)


def _label(model: FailureModel) -> str:
    return "" if model is FailureModel.AUTHOR else f" risk={model.value}"


def default_grid(
    conflict: float | None = None,
    paper_window_hours: float = PAPER_WINDOW_HOURS,
    *,
    paper_tail_hours: float = PAPER_TAIL_HOURS,
    failure_model: FailureModel = FailureModel.AUTHOR,
) -> list[Scenario]:
    """The paper setting and the small-team setting at p ∈ {0.05, 0.1, 0.2}, plus three small-team
    variants (lognormal builds with flakes; the folder conflict model; failure rates varying by
    author and folder). The headline is the paper setting at p = 0.1. `conflict` overrides both
    settings' pairwise conflict probability; `failure_model` applies to every scenario (the third
    variant always varies by author and folder)."""
    ps = (0.05, 0.1, 0.2)
    paper_q = PAPER_CONFLICT if conflict is None else conflict
    small_q = ConflictSpec(probability=SMALL_TEAM_CONFLICT if conflict is None else conflict)
    grid = [
        paper_scenario(
            p,
            paper_q,
            paper_window_hours,
            tail_hours=paper_tail_hours,
            failure_model=failure_model,
        )
        for p in ps
    ]
    grid[1] = dataclasses.replace(grid[1], headline=True)
    grid += [small_team_scenario(p, small_q, failure_model=failure_model) for p in ps]
    grid.append(
        small_team_scenario(0.1, small_q, lognormal=True, flaky=0.02, failure_model=failure_model)
    )
    folders = ConflictSpec(kind=ConflictKind.FOLDER, folders=12, folders_per_change=1)
    grid.append(small_team_scenario(0.1, folders, failure_model=failure_model))
    if failure_model is FailureModel.AUTHOR:
        grid.append(small_team_scenario(0.1, small_q, failure_model=FailureModel.AUTHOR_FOLDER))
    return grid
