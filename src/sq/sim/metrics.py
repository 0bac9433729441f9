"""Scoring a ledger against its workload, and checking that every landing was justified."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sq.platform.summary import percentile
from sq.sim.ledger import BuildRecord, Landing, Ledger
from sq.sim.workload import HOUR_MS, MINUTE_MS, Workload


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyMetrics:
    """One strategy on one workload, over the changes arriving in the measured window.

    Turnaround is arrival to landing, in minutes, over measured good changes; one still waiting at
    the horizon counts with its wait so far (`censored` of them), so percentiles are then lower
    bounds. `landed_vs_arrived` is the changes landed inside the window over the good ones that
    arrived in it (a bad change can land for no one): below 1, the queue falls behind. Builds are
    counted when they start inside the window, against changes landed inside it.
    Where the time goes, as means over the landed: `wait_min` from arrival to the start of the
    build that landed the change, `build_min` that build, `hold_min` from its end to the landing
    (waiting for what it was built on to land). `dependencies_mean` is how many unresolved changes
    (or batches) ahead a measured change depended on when it joined, for strategies that analyse
    dependencies (None for the others): about 1-2 times the conflict density q·λ·T it ran at.
    """

    strategy: str
    landed: int
    rejected: int
    false_rejections: int
    censored: int
    arrived: int
    landed_vs_arrived: float
    throughput_per_hour: float
    p50_min: float
    p95_min: float
    p99_min: float
    builds_per_landed: float
    build_hours_per_landed: float
    cancelled_builds: int
    wait_min: float
    build_min: float
    hold_min: float
    dependencies_mean: float | None
    violations: tuple[str, ...]

    @property
    def verified(self) -> bool:
        return not self.violations


def measure(strategy: str, workload: Workload, ledger: Ledger) -> StrategyMetrics:
    start, end, horizon = workload.start_ms, workload.end_ms, workload.horizon_ms
    turnaround: list[float] = []
    phases: list[tuple[int, int, int]] = []
    build_of = {c: landing.build_id for landing in ledger.landings for c in landing.changes}
    landed = rejected = false_rejections = censored = arrived = 0
    dependencies: list[int] = []
    for change in workload.changes:
        if not workload.measured(change):
            continue
        arrived += change.good
        if change.index in ledger.dependencies:
            dependencies.append(ledger.dependencies[change.index])
        landed_at = ledger.landed_at.get(change.index)
        if landed_at is not None:
            landed += 1
            turnaround.append((landed_at - change.arrival_ms) / MINUTE_MS)
            build = ledger.builds[build_of[change.index]]
            end_ms = build.end_ms if build.end_ms is not None else landed_at
            phases.append(
                (build.start_ms - change.arrival_ms, end_ms - build.start_ms, landed_at - end_ms)
            )
        elif change.index in ledger.rejected_at:
            rejected += 1
            false_rejections += change.good
        elif change.good:
            censored += 1
            turnaround.append((horizon - change.arrival_ms) / MINUTE_MS)
    landed_in_window = sum(
        len(landing.changes) for landing in ledger.landings if start <= landing.time_ms < end
    )
    in_window = [b for b in ledger.builds if start <= b.start_ms < end]
    build_ms = sum((b.end_ms if b.end_ms is not None else horizon) - b.start_ms for b in in_window)
    per_landed = max(landed_in_window, 1)
    return StrategyMetrics(
        strategy=strategy,
        landed=landed,
        rejected=rejected,
        false_rejections=false_rejections,
        censored=censored,
        arrived=arrived,
        landed_vs_arrived=landed_in_window / arrived if arrived else math.nan,
        throughput_per_hour=landed_in_window / ((end - start) / HOUR_MS),
        p50_min=percentile(turnaround, 0.50),
        p95_min=percentile(turnaround, 0.95),
        p99_min=percentile(turnaround, 0.99),
        builds_per_landed=len(in_window) / per_landed,
        build_hours_per_landed=build_ms / HOUR_MS / per_landed,
        cancelled_builds=sum(1 for b in in_window if b.cancelled),
        wait_min=_mean_minutes(p[0] for p in phases),
        build_min=_mean_minutes(p[1] for p in phases),
        hold_min=_mean_minutes(p[2] for p in phases),
        dependencies_mean=sum(dependencies) / len(dependencies) if dependencies else None,
        violations=tuple(verify(workload, ledger)),
    )


def _mean_minutes(values: Iterable[int]) -> float:
    items = list(values)
    return sum(items) / len(items) / MINUTE_MS if items else math.nan


def verify(workload: Workload, ledger: Ledger) -> list[str]:
    """Every way the ledger breaks "each landed state passed its build"; empty when it holds.

    A landing is justified by a build that finished and passed, that included the landed changes,
    whose other changes had all landed earlier, and that saw every conflicting change landed
    before it (in the master it started on, or in what it included). A passing build must not
    include a bad change; nothing lands twice, lands after being rejected, or is built before it
    arrived.
    """
    problems: list[str] = []
    changes = workload.changes
    for build in ledger.builds:
        if build.passed and not all(changes[i].good for i in build.included):
            problems.append(f"build {build.id} passed although it includes a bad change")
        if any(changes[i].arrival_ms > build.start_ms for i in build.included):
            problems.append(f"build {build.id} includes a change that had not arrived")
    seq_of: dict[int, int] = {}
    for landing in ledger.landings:
        problems.extend(_check_landing(workload, ledger, landing, seq_of))
        for change in landing.changes:
            if change in seq_of:
                problems.append(f"c{change} landed twice")
            if change in ledger.rejected_at:
                problems.append(f"c{change} was rejected and landed")
            seq_of.setdefault(change, landing.seq)
    return problems


def _check_landing(
    workload: Workload, ledger: Ledger, landing: Landing, seq_of: dict[int, int]
) -> list[str]:
    if not 0 <= landing.build_id < len(ledger.builds):
        return [f"landing {landing.seq} names unknown build {landing.build_id}"]
    build: BuildRecord = ledger.builds[landing.build_id]
    where = f"landing {landing.seq} ({_names(landing.changes)}) on build {build.id}"
    if build.cancelled or build.passed is None or build.end_ms is None:
        return [f"{where}: the build did not finish"]
    problems: list[str] = []
    if not build.passed:
        problems.append(f"{where}: the build failed")
    if build.end_ms > landing.time_ms:
        problems.append(f"{where}: landed before the build finished")
    included = set(build.included)
    if not included.issuperset(landing.changes):
        problems.append(f"{where}: the build did not include what landed")
    stale = [
        c for c in included.difference(landing.changes) if seq_of.get(c, landing.seq) >= landing.seq
    ]
    if stale:
        problems.append(f"{where}: the build included {_names(stale)}, not landed before")
    near = frozenset().union(*(workload.neighbors(c) for c in landing.changes)) - included
    for earlier in ledger.landings[build.master_landings : landing.seq]:
        if near.isdisjoint(earlier.changes):
            continue
        problems.extend(
            f"{where}: never tested with c{other}, which conflicts and landed"
            for other in earlier.changes
            if other in near
        )
    return problems


def _names(changes: Sequence[int] | set[int]) -> str:
    return ",".join(f"c{c}" for c in sorted(changes))
