"""The finished-batch index gives the per-dependency rules' answers (entity/finished.py).

Finalize and the value speculator check paths against `Finished` sets instead of one state
look-up per dependency; every answer must be the one the plain `state_of` rules give, for random
paths over random states, malformed assumptions and batches the snapshot lacks included.
"""

import random

import pytest

from sq.submitqueue.core.speculation import rules
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.finished import Finished, IndexedStates
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator.value import rank

STATES = [s for s in BatchState if s is not BatchState.UNKNOWN]
ASSUMPTIONS = [Assumption.SUCCEEDS, Assumption.FAILS]


def _world(rng: random.Random) -> tuple[dict[BatchID, BatchState], list[BatchID]]:
    ids = [BatchID(f"q/{i}") for i in range(rng.randint(1, 8))]
    # Biased towards finished states, so that every rule meets contradictions and settled paths.
    weights = [3 if s in (BatchState.SUCCEEDED, BatchState.FAILED) else 1 for s in STATES]
    states = {b: rng.choices(STATES, weights)[0] for b in ids}
    missing = BatchID("q/missing")  # in no snapshot: state UNKNOWN
    return states, [*ids, missing]


def _path(rng: random.Random, deps: list[BatchID], malformed: bool) -> SpeculationPath:
    chosen = rng.sample(deps, rng.randint(0, len(deps)))
    assumptions = [*ASSUMPTIONS, Assumption.UNKNOWN] if malformed else ASSUMPTIONS
    return SpeculationPath(
        head=BatchID("q/head"),
        dependencies=tuple(
            PathDependency(batch=b, assumption=rng.choice(assumptions)) for b in chosen
        ),
    )


@pytest.mark.parametrize("seed", range(40))
def test_index_answers_as_the_per_dependency_rules(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        states, deps = _world(rng)

        def plain(b: BatchID, states: dict[BatchID, BatchState] = states) -> BatchState:
            return states.get(b, BatchState.UNKNOWN)

        indexed = IndexedStates(plain, Finished.of(states))
        path = _path(rng, deps, malformed=rng.random() < 0.2)
        assert rules.assumption_broken(path, indexed) == rules.assumption_broken(path, plain)
        assert rules.all_settled(path, indexed) == rules.all_settled(path, plain)
        head = Batch(
            id=BatchID("q/head"),
            queue="q",
            dependencies=tuple(rng.sample(deps, 2 if len(deps) > 1 else 1)),
        )
        status = rng.choice([PathStatus.FAILED, PathStatus.PASSED, PathStatus.CANCELLED])
        entry = PathEntry(id=path.id, path=path, status=status, lost=rng.randint(0, 3))
        path_set = PathSet(queue="q", head=head.id, paths=(entry,))
        assert rules.no_viable_future(head, path_set, indexed) == rules.no_viable_future(
            head, path_set, plain
        )


def test_index_follows_a_state_written_mid_run() -> None:
    a, b = BatchID("q/a"), BatchID("q/b")
    finished = Finished.of({a: BatchState.SPECULATING, b: BatchState.SUCCEEDED})
    path = SpeculationPath(
        head=BatchID("q/h"), dependencies=(PathDependency(batch=a, assumption=Assumption.SUCCEEDS),)
    )
    assert not finished.contradicts(path)
    assert finished.with_state(a, BatchState.FAILED).contradicts(path)
    assert finished.with_state(a, BatchState.FAILED).all_finished([a, b])
    assert not finished.all_finished([a, b])
    assert finished.with_state(a, BatchState.SUCCEEDED).came_true(path)
    assert not finished.with_state(a, BatchState.MERGING).came_true(path)


@pytest.mark.parametrize("seed", range(20))
def test_path_probability_is_the_per_dependency_product(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        states, deps = _world(rng)
        batches = tuple(Batch(id=b, queue="q", state=s) for b, s in states.items())
        snapshot = SpeculationSnapshot(batches=batches)
        p = {b: rng.random() for b in deps}
        path = _path(rng, deps, malformed=False)
        expected = 1.0
        for d in path.dependencies:
            state = snapshot.state_of(d.batch)
            if state in (BatchState.SUCCEEDED, BatchState.FAILED, BatchState.CANCELLED):
                if (state is BatchState.SUCCEEDED) != (d.assumption is Assumption.SUCCEEDS):
                    expected = 0.0
                    break
                continue
            expected *= p[d.batch] if d.assumption is Assumption.SUCCEEDS else 1.0 - p[d.batch]
        assert rank.path_probability(path, snapshot, p) == expected  # bit for bit
