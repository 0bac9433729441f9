"""Hand-made workloads for the simulator tests."""

from __future__ import annotations

from collections.abc import Sequence

from sq.sim.ledger import Ledger
from sq.sim.strategies import Strategy
from sq.sim.workload import (
    MINUTE_MS,
    Change,
    ConflictSpec,
    Workload,
    WorkloadSpec,
)


def change(index: int, at_min: float, *, good: bool = True, build_min: float = 10) -> Change:
    return Change(
        index=index,
        arrival_ms=round(at_min * MINUTE_MS),
        good=good,
        build_ms=round(build_min * MINUTE_MS),
        author=f"a{index % 3}",
        areas=("f00",),
        lines_changed=10,
    )


def workload(
    changes: Sequence[Change],
    *,
    pairs: Sequence[tuple[int, int]] = (),
    p: float = 0.1,
    window_hours: float = 2.0,
    tail_hours: float = 1.0,
) -> Workload:
    """Changes as given; exactly `pairs` conflict; everything arriving in the window is measured."""
    spec = WorkloadSpec(
        rate_per_hour=1,
        build_minutes=10,
        failure_probability=p,
        conflict=ConflictSpec(probability=0.0),
        warmup_hours=0.0,
        window_hours=window_hours,
        tail_hours=tail_hours,
    )
    return Workload(spec, seed=7, changes=changes, pairs=pairs)


def replay(strategy: Strategy, w: Workload) -> Ledger:
    ledger = Ledger()
    strategy.run(w, ledger)
    return ledger


def minutes(ms: int | None) -> float | None:
    return None if ms is None else ms / MINUTE_MS


def builds(ledger: Ledger) -> list[tuple[tuple[int, ...], float | None, float | None, str]]:
    """Each build as (included, start min, end min, fate)."""
    fate = {True: "passed", False: "failed", None: "cancelled"}
    return [
        (b.included, minutes(b.start_ms), minutes(b.end_ms), fate[b.passed]) for b in ledger.builds
    ]
