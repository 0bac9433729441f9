"""The value speculator's weights reused across runs equal the ones computed afresh."""

import random

import pytest

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.extension.speculator.value import rank


def _dag(rng: random.Random, n: int) -> list[Batch]:
    ids = [BatchID(f"q/{i}") for i in range(n)]
    return [
        Batch(
            id=b,
            queue="q",
            dependencies=tuple(rng.sample(ids[:i], rng.randint(0, min(i, 4)))),
            state=BatchState.SPECULATING,
        )
        for i, b in enumerate(ids)
    ]


@pytest.mark.parametrize("seed", range(30))
def test_reused_weights_equal_fresh_ones(seed: int) -> None:
    rng = random.Random(seed)
    batches = _dag(rng, 12)
    memo = rank.WeightMemo()
    heads = list(batches)
    for _ in range(25):
        assert memo.weights(heads) == rank.dependent_weights(heads)
        move = rng.random()
        if move < 0.4 and heads:
            heads = heads[1:]  # the front lands: the reused case
        elif move < 0.8 and heads:
            heads.pop(rng.randrange(len(heads)))  # one from the middle leaves
        else:
            heads = [b for b in batches if b in heads or rng.random() < 0.3]  # some come back


def test_the_front_landing_reuses_and_a_middle_one_recomputes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b, c = (BatchID(f"q/{x}") for x in "abc")
    chain = [
        Batch(id=a, queue="q", state=BatchState.SPECULATING),
        Batch(id=b, queue="q", dependencies=(a,), state=BatchState.SPECULATING),
        Batch(id=c, queue="q", dependencies=(b,), state=BatchState.SPECULATING),
    ]
    memo = rank.WeightMemo()
    assert memo.weights(chain) == {a: 3, b: 2, c: 1}
    fresh = rank.dependent_weights
    monkeypatch.setattr(rank, "dependent_weights", None)  # a recomputation would raise
    assert memo.weights(chain[1:]) == {b: 2, c: 1}
    monkeypatch.setattr(rank, "dependent_weights", fresh)
    assert memo.weights([chain[0], chain[2]]) == {a: 1, c: 1}
