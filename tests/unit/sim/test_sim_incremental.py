"""Our queue run with its run-to-run reuse (folding only the sets that moved, finalize's waiting
heads, the value speculator's per-head figures) does exactly what it does with all of it off."""

from __future__ import annotations

import dataclasses

import pytest

from sq.sim.ledger import Ledger
from sq.sim.runner import make_strategy, small_team_scenario
from sq.sim.strategies.ours import _EngineQueue
from sq.sim.workload import ConflictSpec, generate
from sq.submitqueue.core.speculation.waiting import WaitMemo
from sq.submitqueue.extension.speculator.value.memo import HeadMemo, RunFigures

STRATEGIES = ["ours", "ours+retry1", "ours+batch", "ours+history", "ours-standard"]


def _ledger(name: str, seed: int) -> Ledger:
    p = (0.05, 0.1, 0.2, 0.3)[seed % 4]
    q = (0.1, 0.3, 0.6)[seed % 3]
    scenario = small_team_scenario(p, ConflictSpec(probability=q), flaky=0.05, window_hours=5.0)
    spec = dataclasses.replace(scenario.workload, warmup_hours=0.5)
    ledger = Ledger()
    make_strategy(name, scenario.capacity).run(generate(spec, seed), ledger)
    return ledger


def _from_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run folds every set, weighs every waiting head and values every head afresh."""
    read = _EngineQueue._read
    start = HeadMemo.start

    def read_all(queue: _EngineQueue, now: int):  # type: ignore[no-untyped-def]
        queue.folded.clear()
        return read(queue, now)

    def start_afresh(memo: HeadMemo, *args, **kwargs) -> RunFigures:  # type: ignore[no-untyped-def]
        run = start(memo, *args, **kwargs)
        run.dependency_terms = {}
        return run

    monkeypatch.setattr(_EngineQueue, "_read", read_all)
    monkeypatch.setattr(WaitMemo, "still_waiting", lambda *args: None)
    monkeypatch.setattr(RunFigures, "figures", lambda *args: None)
    monkeypatch.setattr(HeadMemo, "start", start_afresh)


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("seed", range(4))
def test_reusing_work_across_runs_changes_nothing_the_queue_does(
    name: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    reused = _ledger(name, seed)
    with monkeypatch.context() as patch:
        _from_scratch(patch)
        fresh = _ledger(name, seed)
    assert reused.builds == fresh.builds
    assert reused.landings == fresh.landings
    assert reused.rejected_at == fresh.rejected_at
    assert len(reused.builds) > 50  # a run with a queue, not a trickle
