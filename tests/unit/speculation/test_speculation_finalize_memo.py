"""Finalize with a WaitMemo carried from run to run decides what finalize without one does.

The snapshots follow one another the way a caller's do: each starts from what the last finalize
left (its sets, its committed states), then a few batches finish, an entry's build ends or a head
is funded a new path. The memo must never change a verdict, a set, an event or what is dirty.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st
from speculation_helpers import F, S
from test_speculation_value_walk import STATUSES, snapshots

from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize
from sq.submitqueue.core.speculation.waiting import WaitMemo
from sq.submitqueue.entity.batch import BatchState, is_terminal
from sq.submitqueue.entity.path import PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.snapshot import SpeculationSnapshot

MOVES = ["finish", "finish", "status", "fund", "none"]


def _next(
    draw: st.DrawFn, snapshot: SpeculationSnapshot, merged: set[str], now: int
) -> SpeculationSnapshot:
    """What the caller reads next: merged heads landed or were sent back, then one change."""
    batches = [
        dataclasses.replace(
            b, state=draw(st.sampled_from([BatchState.SUCCEEDED, BatchState.SPECULATING]))
        )
        if b.id in merged
        else b
        for b in snapshot.batches
    ]
    sets = list(snapshot.path_sets)
    move = draw(st.sampled_from(MOVES))
    if move == "finish":
        open_ = [i for i, b in enumerate(batches) if not is_terminal(b.state)]
        if open_:
            i = draw(st.sampled_from(open_))
            state = draw(st.sampled_from([BatchState.SUCCEEDED, BatchState.FAILED]))
            batches[i] = dataclasses.replace(batches[i], state=state)
    elif move == "status" and sets:
        k = draw(st.integers(0, len(sets) - 1))
        if sets[k].paths:
            j = draw(st.integers(0, len(sets[k].paths) - 1))
            status = PathStatus(draw(st.sampled_from(STATUSES)))
            paths = list(sets[k].paths)
            paths[j] = paths[j].with_status(status, now)
            sets[k] = dataclasses.replace(sets[k], paths=tuple(paths))
    elif move == "fund":
        heads = [b for b in batches if b.state is BatchState.SPECULATING]
        if heads:
            head = draw(st.sampled_from(heads))
            path = SpeculationPath(
                head=head.id,
                dependencies=tuple(
                    PathDependency(batch=d, assumption=draw(st.sampled_from([S, F])))
                    for d in head.dependencies
                ),
            )
            funded = {s.head: s for s in sets}
            old = funded.get(head.id, PathSet(queue="q", head=head.id))
            if old.entry(path.id) is None:
                funded[head.id] = old.with_entry(PathEntry.funded(path, now))
                sets = list(funded.values())
    return SpeculationSnapshot(batches=tuple(batches), path_sets=tuple(sets))


@settings(max_examples=300, deadline=None)
@given(st.data(), snapshots(), st.integers(0, 2))
def test_finalize_with_a_memo_decides_what_finalize_without_one_does(
    data: st.DataObject,
    drawn: tuple[SpeculationSnapshot, dict[str, float], dict[str, float]],
    pending_failure_depth: int,
) -> None:
    snapshot = drawn[0]
    memo = WaitMemo()
    for now in range(1, data.draw(st.integers(2, 8)) + 1):
        fresh = finalize(snapshot, now_ms=now, pending_failure_depth=pending_failure_depth)
        done = finalize(
            snapshot, now_ms=now, pending_failure_depth=pending_failure_depth, memo=memo
        )
        assert done == fresh
        merged = {o.head for o in done.committed if o.kind is OutcomeKind.MERGE}
        snapshot = _next(data.draw, done.snapshot, merged, now)
