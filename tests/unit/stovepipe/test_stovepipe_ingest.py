"""Ingest (spec §7.2): one request per (queue, head), the latest pointer, self-healing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sq.stovepipe.controller.ingest import COUNTER_DOMAIN, IngestController, RefNotFoundError
from sq.stovepipe.deps import UnknownQueueError
from sq.stovepipe.entity import RequestState
from sq.stovepipe.extension.sourcecontrol import UnreachableError
from sq.stovepipe.messages import PROCESS
from sq.stovepipe.storage import SqlStorage
from support.stovepipe_units import Q, Units, rid

pytestmark = pytest.mark.anyio


def ingester(u: Units) -> IngestController:
    return IngestController(u.deps, u.ctx)  # type: ignore[arg-type]


async def test_a_new_head_gets_a_request_the_pointer_and_one_process_message(
    tmp_path: Path,
) -> None:
    u = Units(tmp_path)
    u.sc.push("U")
    request = await ingester(u).ingest(Q)
    assert (request.id, request.uri, request.state, request.version) == (rid(1), "U", "accepted", 1)
    assert u.store.get_request_id_by_uri(Q, "U") == rid(1)
    row = u.store.get_queue(Q)
    assert (row.latest_request_id, row.version) == (rid(1), 2)
    assert u.ctx.on(PROCESS) == [(Q, rid(1), {"id": rid(1), "queue_name": Q, "project": ""})]


async def test_the_same_head_keeps_its_request_and_mints_nothing(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.sc.push("U")
    first = await ingester(u).ingest(Q)
    again = await ingester(u).ingest(Q)
    assert again.id == first.id
    assert u.deps.counter.peek(Q, COUNTER_DOMAIN) == 1
    # still accepted: republished under the same message id, which the queue dedups
    assert {m for _, m, _ in u.ctx.on(PROCESS)} == {first.id}
    u.store.update_request(replace(again, state=RequestState.PROCESSING))
    u.ctx.published.clear()
    assert (await ingester(u).ingest(Q)).id == first.id
    assert u.ctx.published == []  # past accepted: nothing to hand on


async def test_a_lost_mapping_race_adopts_the_winner(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.queue(latest_request_id=rid(5))
    u.sc.push("U")
    winner = rid(3)
    u.store.inject(
        "create_request_uri", lambda: SqlStorage.create_request_uri(u.store, Q, "U", winner)
    )
    request = await ingester(u).ingest(Q)
    assert request.id == winner and u.get(3).state == "accepted"
    assert u.store.get_queue(Q).latest_request_id == rid(5)  # not moved backwards


async def test_a_mapping_without_its_request_row_heals(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.sc.push("U")
    u.store.create_request_uri(Q, "U", rid(3))
    request = await ingester(u).ingest(Q)
    assert (request.id, request.state) == (rid(3), "accepted")
    assert u.store.get_queue(Q).latest_request_id == rid(3)
    assert [m for _, m, _ in u.ctx.on(PROCESS)] == [rid(3)]


async def test_bad_queues_refs_and_repositories(tmp_path: Path) -> None:
    u = Units(tmp_path)
    with pytest.raises(UnknownQueueError):
        await ingester(u).ingest("")
    with pytest.raises(UnknownQueueError):
        await ingester(u).ingest("other/queue")
    with pytest.raises(RefNotFoundError):
        await ingester(u).ingest(Q)  # the ref has no commit
    u.sc.push("U")
    u.sc.unreachable = True
    with pytest.raises(UnreachableError):
        await ingester(u).ingest(Q)
    assert u.writes() == []


async def test_a_failed_publish_fails_the_call_and_a_retry_heals(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.sc.push("U")
    u.ctx.fail.add(PROCESS)
    with pytest.raises(RuntimeError):
        await ingester(u).ingest(Q)
    u.ctx.fail.clear()
    assert (await ingester(u).ingest(Q)).id == rid(1)
    assert len(u.ctx.on(PROCESS)) == 1


async def test_the_pointer_only_moves_forward(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.queue(latest_request_id=rid(9))
    u.sc.push("U")
    assert (await ingester(u).ingest(Q)).id == rid(1)  # a counter behind the pointer
    assert u.store.get_queue(Q).latest_request_id == rid(9)
    row = u.store.get_queue(Q)
    u.store.inject("update_queue", lambda: SqlStorage.update_queue(u.store, row))  # a racer
    await ingester(u)._advance_latest(Q, rid(10))
    assert u.store.get_queue(Q).latest_request_id == rid(10)


async def test_two_heads_in_turn(tmp_path: Path) -> None:
    u = Units(tmp_path)
    ids = []
    for head in ("U1", "U2"):
        u.sc.push(head)
        ids.append((await ingester(u).ingest(Q)).id)
    assert ids == [rid(1), rid(2)]
    assert u.store.get_queue(Q).latest_request_id == rid(2)
    assert [m for _, m, _ in u.ctx.on(PROCESS)] == ids
