"""The dependents a landing frees: speculating, depending on the landed batch, with every
dependency finished and nothing in flight overtaking them; found in time linear in the depth of a
chain, not in its square."""

from __future__ import annotations

from collections.abc import Iterator

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, Priority
from sq.submitqueue.orchestrator.controller.mergesignal import freed_dependents

S, M = BatchState.SPECULATING, BatchState.MERGING


def bid(n: int) -> BatchID:
    return BatchID(f"q/batch/{n}")


def batch(
    n: int, state: BatchState, deps: tuple[int, ...] = (), overtakes: tuple[int, ...] = ()
) -> Batch:
    return Batch(
        id=bid(n),
        queue="q",
        dependencies=tuple(bid(d) for d in deps),
        state=state,
        priority=Priority.HIGH if overtakes else Priority.NORMAL,
        overtakes=tuple(bid(o) for o in overtakes),
    )


def test_only_heads_whose_dependencies_all_finished_are_freed() -> None:
    # 1 landed; 2 and 3 finished earlier (not in flight, so not listed).
    in_flight = [
        batch(4, S, (2, 1)),  # freed
        batch(5, S, (1, 2, 4)),  # 4 is still in flight
        batch(6, S, (2,)),  # does not depend on 1
        batch(7, M, (1,)),  # not speculating
        batch(8, S, (1,)),  # held: 9 overtakes it
        batch(9, S, overtakes=(8,)),
        batch(10, S, (1, 3)),  # freed
    ]
    assert [b.id for b in freed_dependents(in_flight, bid(1))] == [bid(4), bid(10)]


class _Counted(tuple[BatchID, ...]):
    """Dependencies that count how many of their ids were looked at."""

    looked = 0

    def __iter__(self) -> Iterator[BatchID]:
        for d in super().__iter__():
            _Counted.looked += 1
            yield d

    def __reversed__(self) -> Iterator[BatchID]:
        for d in reversed(list(super().__iter__())):
            _Counted.looked += 1
            yield d

    def __contains__(self, wanted: object) -> bool:
        return any(d == wanted for d in self)


def test_a_landing_in_a_deep_chain_looks_at_each_head_about_once() -> None:
    depth, landed = 300, 150  # batches 1..150 landed; 151..300 in flight, each on all ahead
    in_flight = [
        Batch(
            id=bid(n),
            queue="q",
            dependencies=_Counted(bid(d) for d in range(1, n)),
            state=S,
        )
        for n in range(landed + 1, depth + 1)
    ]
    _Counted.looked = 0
    freed = freed_dependents(in_flight, bid(landed))
    assert [b.id for b in freed] == [bid(landed + 1)]
    assert _Counted.looked <= 2 * depth + len(in_flight), _Counted.looked
