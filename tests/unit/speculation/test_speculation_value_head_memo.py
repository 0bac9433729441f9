"""A value speculator that remembers heads' figures across runs proposes what a fresh one does.

One speculator is asked run after run while the snapshot moves a little between runs (its
accepted proposals are applied, a batch finishes, a score moves, an entry's status changes, a set
comes back as an equal copy, the clock ticks); a new speculator is asked the same snapshot each
time. Their proposals must be equal.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from speculation_helpers import TableScorer
from test_speculation_value_walk import STATUSES, snapshots

from sq.submitqueue.core.speculation.check import check_proposals
from sq.submitqueue.core.speculation.dispatch import apply_proposals
from sq.submitqueue.core.speculation.finalize import finalize
from sq.submitqueue.entity.batch import BatchState, is_terminal
from sq.submitqueue.entity.pathset import PathSet, PathStatus
from sq.submitqueue.entity.proposal import Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator

MOVES = ["dispatch", "dispatch", "finish", "score", "status", "copy", "tick", "none"]


def _move(
    draw: st.DrawFn,
    snapshot: SpeculationSnapshot,
    proposed: list[Speculation],
    scores: dict[str, float],
    clock: list[int],
) -> SpeculationSnapshot:
    """The next run's snapshot: one small change to this one (or none)."""
    move = draw(st.sampled_from(MOVES))
    batches = list(snapshot.batches)
    sets = list(snapshot.path_sets)
    if move == "dispatch":
        by_head: dict[str, list[Speculation]] = {}
        for proposal in check_proposals(snapshot, proposed).accepted:
            by_head.setdefault(proposal.path.head, []).append(proposal)
        funded = {s.head: s for s in sets}
        for head, proposals in by_head.items():
            empty = PathSet(queue="q", head=head)  # type: ignore[arg-type]
            funded[head], _ = apply_proposals(funded.get(head, empty), proposals, clock[0])
        sets = list(funded.values())
    elif move == "finish":
        open_ = [i for i, b in enumerate(batches) if not is_terminal(b.state)]
        if open_:
            i = draw(st.sampled_from(open_))
            state = draw(st.sampled_from([BatchState.SUCCEEDED, BatchState.FAILED]))
            batches[i] = dataclasses.replace(batches[i], state=state)
    elif move == "score":
        scores[draw(st.sampled_from(sorted(scores)))] = draw(st.sampled_from([0.2, 0.6, 0.9]))
    elif move in ("status", "copy") and sets:
        k = draw(st.integers(0, len(sets) - 1))
        if move == "copy":
            sets[k] = dataclasses.replace(sets[k])  # equal, not the same object
        elif sets[k].paths:
            j = draw(st.integers(0, len(sets[k].paths) - 1))
            status = PathStatus(draw(st.sampled_from(STATUSES)))
            paths = list(sets[k].paths)
            paths[j] = paths[j].with_status(status, clock[0])
            sets[k] = PathSet(queue=sets[k].queue, head=sets[k].head, paths=tuple(paths))
    elif move == "tick":
        clock[0] += draw(st.integers(1, 400))
    return SpeculationSnapshot(batches=tuple(batches), path_sets=tuple(sets))


@settings(max_examples=300, deadline=None)
@given(
    st.data(),
    snapshots(),
    st.integers(0, 8),
    st.sampled_from([0.0, 0.5, 3.0]),
    st.sampled_from([1.0, 3.0]),
    st.booleans(),
)
def test_a_speculator_reusing_heads_across_runs_proposes_what_a_fresh_one_does(
    data: st.DataObject,
    drawn: tuple[SpeculationSnapshot, dict[str, float], dict[str, float]],
    budget: int,
    threshold: float,
    hysteresis: float,
    clocked: bool,
) -> None:
    snapshot, scores, costs = drawn
    snapshot = finalize(snapshot, now_ms=1).snapshot
    value_settings = ValueSettings(budget=budget, threshold=threshold, hysteresis=hysteresis)
    clock = [700]

    def make() -> ValueSpeculator:
        if not clocked:
            return ValueSpeculator(TableScorer(scores), value_settings)
        return ValueSpeculator(
            TableScorer(scores),
            value_settings,
            build_cost=lambda b: costs[b.id],
            clock=lambda: clock[0],
        )

    kept = make()
    for _ in range(data.draw(st.integers(2, 8))):
        proposed = kept.speculate(snapshot)
        assert proposed == make().speculate(snapshot)
        snapshot = _move(data.draw, snapshot, proposed, scores, clock)
