"""The check that every landed state passed its build: it holds for every strategy, and it catches
strategies that cut corners."""

from __future__ import annotations

import dataclasses

import pytest
from sim_helpers import change, replay, workload

from sq.sim.ledger import Ledger
from sq.sim.metrics import measure, verify
from sq.sim.runner import STRATEGY_NAMES, make_strategy, small_team_scenario
from sq.sim.strategies import Arrival, arrivals, finish_build, start_build
from sq.sim.workload import Workload, generate


class LandsWhateverItBuilt:
    """Deliberately wrong: builds each change alone on the target and lands it, pass or fail."""

    name = "reckless"

    def run(self, workload: Workload, ledger: Ledger) -> None:
        events = arrivals(workload)
        head_of: dict[int, int] = {}
        while events:
            now, due = events.pop_instant()
            for event in due:
                if isinstance(event, Arrival):
                    build = start_build(workload, ledger, events, (event.change,), now)
                    head_of[build] = event.change
                else:
                    finish_build(workload, ledger, event.build_id, now)
                    ledger.land((head_of[event.build_id],), event.build_id, now)


def test_the_check_catches_a_strategy_that_lands_a_failed_build() -> None:
    w = workload([change(0, 0), change(1, 1, good=False)])
    problems = verify(w, replay(LandsWhateverItBuilt(), w))

    assert problems == ["landing 1 (c1) on build 1: the build failed"]
    assert not measure("reckless", w, replay(LandsWhateverItBuilt(), w)).verified


def test_the_check_catches_landing_untested_with_a_conflicting_change() -> None:
    # Both good, but c1 was built before c0 landed and without it, and they conflict.
    w = workload([change(0, 0), change(1, 1)], pairs=[(0, 1)])
    problems = verify(w, replay(LandsWhateverItBuilt(), w))

    assert problems == [
        "landing 1 (c1) on build 1: never tested with c0, which conflicts and landed"
    ]


def test_the_same_reckless_landings_are_fine_without_the_conflict() -> None:
    w = workload([change(0, 0), change(1, 1)], pairs=[])

    assert verify(w, replay(LandsWhateverItBuilt(), w)) == []


def test_the_check_catches_a_build_claiming_to_pass_with_a_bad_change() -> None:
    w = workload([change(0, 0, good=False)])
    ledger = Ledger()
    build = ledger.start_build((0,), 0)
    ledger.finish_build(build.id, True, 600_000)
    ledger.land((0,), build.id, 600_000)

    assert verify(w, ledger) == ["build 0 passed although it includes a bad change"]


def test_the_check_catches_a_build_on_something_that_never_landed() -> None:
    w = workload([change(0, 0), change(1, 0)])
    ledger = Ledger()
    build = ledger.start_build((0, 1), 0)
    ledger.finish_build(build.id, True, 600_000)
    ledger.land((1,), build.id, 600_000)

    assert verify(w, ledger) == [
        "landing 0 (c1) on build 0: the build included c0, not landed before"
    ]


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_passes_the_check_on_a_busy_flaky_workload(name: str) -> None:
    scenario = small_team_scenario(0.2, lognormal=True, flaky=0.05, window_hours=4)
    spec = dataclasses.replace(scenario.workload, rate_per_hour=30, warmup_hours=0.5)
    w = generate(spec, seed=3)
    ledger = replay(make_strategy(name, scenario.capacity), w)

    assert ledger.landings
    assert verify(w, ledger) == []
