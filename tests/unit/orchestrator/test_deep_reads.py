"""A build or a landing that assumes every batch ahead of a deep head reads those batches in a
fixed number of statements, and never their own dependency lists (with the `all` analyzer each
of them names every batch ahead of it: reading whole rows parsed ids quadratic in the depth)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from sq.platform import migrations
from sq.platform.clock import FakeClock
from sq.platform.db import create_engine
from sq.platform.pipeline import StageContext
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, RequestID
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus
from sq.submitqueue.entity.path import PathID
from sq.submitqueue.entity.request import ChangeInfo, Request
from sq.submitqueue.orchestrator.controller.build import BuildController
from sq.submitqueue.orchestrator.controller.merge import MergeController
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, Profiles
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema
from support.statements import Statements

pytestmark = pytest.mark.anyio

Q = "q"
DEPTH = 40


def bid(n: int) -> BatchID:
    return BatchID(f"{Q}/batch/{n}")


def rid(n: int) -> RequestID:
    return RequestID(f"{Q}/{n}")


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[OrchestratorDeps]:
    """DEPTH batches of one request each, every one depending on all the batches before it."""
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    store = OrchestratorStorage(engine)
    for n in range(1, DEPTH + 1):
        request = Request(id=rid(n), queue=Q, uris=(f"fake://c/{n}",))
        store.create_request(request)
        store.claim_changes(request, [ChangeInfo(uri=f"fake://c/{n}", commits=(f"{n:040x}",))])
        store.create_batch(
            Batch(
                id=bid(n),
                queue=Q,
                contains=(rid(n),),
                dependencies=tuple(bid(k) for k in range(1, n)),
                state=BatchState.SPECULATING,
            )
        )
    yield OrchestratorDeps(storage=store, profiles=Profiles([]), clock=FakeClock())
    engine.dispose()


def build_assuming(ahead: int) -> Build:
    """The head's build, assuming the `ahead` batches right before it land."""
    return Build(
        id=BuildID(f"{Q}/build/1"),
        batch_id=bid(DEPTH),
        path_id=PathID("p"),
        attempt=1,
        status=BuildStatus.SUCCEEDED,
        base="0" * 40,
        assumed=tuple(bid(n) for n in range(DEPTH - ahead, DEPTH)),
    )


async def test_a_landing_reads_the_requests_it_assumed_in_statements_not_growing_with_depth(
    deps: OrchestratorDeps,
) -> None:
    merge = MergeController(deps, cast(StageContext, None))
    reads = []
    for ahead in (2, DEPTH - 1):
        with Statements(deps.storage.engine) as statements:
            assumed = await merge._assumed_requests(
                Q, build_assuming(ahead), carried=bid(DEPTH - 2)
            )
        assert [r.id for r in assumed] == [rid(n) for n in range(DEPTH - ahead, DEPTH - 2)] + [
            rid(DEPTH - 1)
        ]
        assert not any("dependencies" in s for s in statements.reads)
        reads.append(len(statements.reads))
    assert reads[0] == reads[1]


async def test_a_build_reads_the_batches_it_layers_without_their_dependencies(
    deps: OrchestratorDeps,
) -> None:
    head = deps.storage.get_batch(Q, bid(DEPTH))
    assert head is not None
    controller = BuildController(deps, cast(StageContext, None))
    reads = []
    for ahead in (2, DEPTH - 1):
        build = build_assuming(ahead)
        with Statements(deps.storage.engine) as statements:
            trees = await controller._trees(head, [build])
        layers = [
            trees.changes[r][0].uri for b in (*build.assumed, head.id) for r in trees.contents[b]
        ]
        assert layers == [f"fake://c/{n}" for n in range(DEPTH - ahead, DEPTH + 1)]
        assert not any("dependencies" in s for s in statements.reads)
        reads.append(len(statements.reads))
    assert reads[0] == reads[1]


def land_all_but_the_head(store: OrchestratorStorage) -> None:
    for n in range(1, DEPTH):
        batch = store.get_batch(Q, bid(n))
        assert batch is not None
        store.transition_batch(batch, BatchState.SUCCEEDED)


def bound_ids(statements: Statements) -> int:
    """How many values the reads bound (an `IN (…)` list binds one per id)."""
    return sum(s.count("?") for s in statements.reads)


def test_a_finished_batch_state_is_read_once(deps: OrchestratorDeps) -> None:
    store = deps.storage
    land_all_but_the_head(store)
    head = store.get_batch(Q, bid(DEPTH))
    assert head is not None
    ahead = head.dependencies
    first = store.batch_states(Q, (*ahead, head.id))
    with Statements(store.engine) as statements:
        again = store.batch_states(Q, (*ahead, head.id))
    assert again == first
    assert set(first.values()) == {BatchState.SUCCEEDED, BatchState.SPECULATING}
    assert bound_ids(statements) < 5  # the head's id (and the queue), not DEPTH - 1 landed ones
    store.transition_batch(head, BatchState.MERGING)  # an open state is read each time
    assert store.batch_states(Q, [head.id]) == {head.id: BatchState.MERGING}


def test_a_speculate_read_does_not_list_the_finished_dependencies_it_parsed(
    deps: OrchestratorDeps,
) -> None:
    store = deps.storage
    land_all_but_the_head(store)
    first = store.read_queue(Q)
    with Statements(store.engine) as statements:
        again = store.read_queue(Q)
    assert (
        [b.id for b in again.finalized]
        == [b.id for b in first.finalized]
        == list(
            store.get_batch(Q, bid(DEPTH)).dependencies  # type: ignore[union-attr]
        )
    )
    assert all(b.state is BatchState.SUCCEEDED for b in again.finalized)
    assert bound_ids(statements) < 10  # listing the DEPTH - 1 landed batches again binds each
