"""Stages that need only the states of the batches ahead of a head read those, not the rows."""

from __future__ import annotations

from pathlib import Path

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from support.databases import orchestrator_storage

Q = "q"


def test_states_of_the_batches_found_and_none_for_the_others(tmp_path: Path) -> None:
    with orchestrator_storage("sqlite", tmp_path) as store:
        ahead = [BatchID(f"q/batch/{n}") for n in (1, 2)]
        store.create_batch(Batch(id=ahead[0], queue=Q, state=BatchState.SUCCEEDED))
        store.create_batch(
            Batch(id=ahead[1], queue=Q, dependencies=(ahead[0],), state=BatchState.SPECULATING)
        )
        store.create_batch(Batch(id=BatchID("other/batch/1"), queue="other"))
        wanted = [*ahead, BatchID("q/batch/9"), BatchID("other/batch/1"), ahead[0]]
        assert store.batch_states(Q, wanted) == {
            ahead[0]: BatchState.SUCCEEDED,
            ahead[1]: BatchState.SPECULATING,
        }
        assert store.batch_states(Q, []) == {}
