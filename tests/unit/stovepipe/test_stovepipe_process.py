"""process (spec §7.3): coalescing, the concurrency gate, the strategy, the admit CAS loops."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sq.platform import errs
from sq.stovepipe.controller.process import ProcessController
from sq.stovepipe.deps import QueueSetup
from sq.stovepipe.entity import BuildStrategy, RequestState
from sq.stovepipe.messages import BUILD
from sq.stovepipe.storage import SqlStorage
from support.stovepipe_units import PROCESSING, Q, Units, message, rid

pytestmark = pytest.mark.anyio


def units(tmp_path: Path, **setup: object) -> Units:
    return Units(tmp_path, QueueSetup(name=Q, full_command="make", **setup))  # type: ignore[arg-type]


def racer(u: Units, **fields: object):  # type: ignore[no-untyped-def]
    """A concurrent writer of the queue row, run just before the controller's own write."""
    return lambda: SqlStorage.update_queue(u.store, replace(u.store.get_queue(Q), **fields))


@pytest.mark.parametrize("state", ["superseded", "succeeded", "failed", "cancelled"])
async def test_a_finished_request_is_left_alone(tmp_path: Path, state: str) -> None:
    u = units(tmp_path)
    u.request(1, RequestState(state))
    u.queue(latest_request_id=rid(1))
    calls = len(u.store.calls)
    delivery = await u.run(ProcessController, message(1))
    assert delivery.held is None and u.ctx.published == [] and u.writes()[calls:] == []


async def test_a_processing_request_is_handed_to_build_again(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(1, **PROCESSING)
    await u.run(ProcessController, message(1))
    assert u.ctx.on(BUILD) == [(rid(1), rid(1), message(1, project=""))]
    u.ctx.fail.add(BUILD)
    assert not errs.is_retryable(await u.fails(ProcessController, message(1)))


async def test_what_cannot_be_processed_is_never_retried(tmp_path: Path) -> None:
    u = units(tmp_path)
    assert not errs.is_retryable(await u.fails(ProcessController, message(1)))  # no request
    u.request(1)
    assert not errs.is_retryable(await u.fails(ProcessController, message(1)))  # no queue row
    assert await u.fails(ProcessController, "not json") == errs.Verdict.USER
    other = {"id": rid(1), "queue_name": "other/queue"}
    assert not errs.is_retryable(await u.fails(ProcessController, other))
    u.queue(latest_request_id="request/other-queue/99")
    assert not errs.is_retryable(await u.fails(ProcessController, message(1)))  # bad pointer


async def test_no_latest_pointer_acks_without_writing(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(1)
    u.queue()
    calls = len(u.store.calls)
    delivery = await u.run(ProcessController, message(1))
    assert delivery.held is None and u.writes()[calls:] == [] and u.ctx.published == []


async def test_an_older_request_is_superseded_without_a_slot(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(3)
    u.queue(latest_request_id=rid(7), last_green_uri="G", last_green_request_id=rid(1))
    u.sc.unreachable = True  # superseding never asks the repository
    await u.run(ProcessController, message(3))
    assert (u.get(3).state, u.get(3).version) == ("superseded", 2)
    assert u.store.get_queue(Q).in_flight_count == 0 and u.ctx.published == []


async def test_cold_start_admits_a_full_build(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(1)
    u.queue(latest_request_id=rid(1))
    u.sc.unreachable = True  # no last green: no ancestry to ask about
    await u.run(ProcessController, message(1))
    request = u.get(1)
    assert (request.state, request.build_strategy, request.base_uri, request.version) == (
        "processing",
        "full",
        "",
        2,
    )
    assert u.store.get_queue(Q).in_flight_count == 1
    assert [m for _, m, _ in u.ctx.on(BUILD)] == [rid(1)]


@pytest.mark.parametrize(
    ("history", "strategy", "base"),
    [
        (["U1", "G"], BuildStrategy.INCREMENTAL, "G"),
        (["U1"], BuildStrategy.FULL, ""),  # G unknown: a rewrite dropped it
    ],
)
async def test_the_strategy_follows_ancestry(
    tmp_path: Path, history: list[str], strategy: BuildStrategy, base: str
) -> None:
    u = units(tmp_path)
    u.sc.rewrite(history)
    u.request(1)
    u.queue(latest_request_id=rid(1), last_green_uri="G", last_green_request_id=rid(0))
    await u.run(ProcessController, message(1))
    assert (u.get(1).build_strategy, u.get(1).base_uri) == (strategy, base)


async def test_an_ancestry_error_claims_no_slot(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.sc.rewrite(["U1", "G"])
    u.request(1)
    u.queue(latest_request_id=rid(1), last_green_uri="G", last_green_request_id=rid(0))
    u.sc.unreachable = True
    await u.fails(ProcessController, message(1))
    assert u.store.get_queue(Q).in_flight_count == 0 and u.get(1).state == "accepted"


async def test_a_closed_gate_holds_without_writing(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(1)
    u.queue(latest_request_id=rid(1), in_flight_count=1, last_green_uri="G")
    u.sc.unreachable = True
    calls = len(u.store.calls)
    delivery = await u.run(ProcessController, message(1))
    assert delivery.held == 5.0 and u.writes()[calls:] == []
    zero = units(tmp_path / "zero", gate_wait_delay_ms=0)
    zero.request(1)
    zero.queue(latest_request_id=rid(1), in_flight_count=1)
    assert await zero.fails(ProcessController, message(1)) == errs.Verdict.USER


async def test_slot_claim_conflicts_reread_the_queue(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(1)
    u.queue(latest_request_id=rid(1))
    u.store.inject("update_queue", racer(u, in_flight_count=1))  # someone took the slot
    assert (await u.run(ProcessController, message(1))).held == 5.0
    u.queue(in_flight_count=0)  # it finished
    u.store.inject("update_queue", racer(u))  # only the version moved
    assert (await u.run(ProcessController, message(1))).held is None
    assert (u.get(1).state, u.store.get_queue(Q).in_flight_count) == ("processing", 1)


async def test_a_slot_claim_conflict_with_a_newer_head_supersedes(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(1)
    u.queue(latest_request_id=rid(1))
    u.store.inject("update_queue", racer(u, latest_request_id=rid(9)))
    await u.run(ProcessController, message(1))
    assert u.get(1).state == "superseded" and u.store.get_queue(Q).in_flight_count == 0


async def test_a_slot_claim_conflict_rederives_the_strategy(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.sc.rewrite(["U1", "G"])
    u.request(1)
    u.queue(latest_request_id=rid(1))
    u.store.inject("update_queue", racer(u, last_green_uri="G", last_green_request_id=rid(0)))
    await u.run(ProcessController, message(1))
    assert (u.get(1).build_strategy, u.get(1).base_uri) == ("incremental_since_green", "G")


async def test_mark_processing_conflicts(tmp_path: Path) -> None:
    u = units(tmp_path)
    request = u.request(1)
    u.queue(latest_request_id=rid(1))
    bump = lambda: SqlStorage.update_request(u.store, u.get(1))  # noqa: E731  version only
    u.store.inject("update_request", bump)
    await u.run(ProcessController, message(1))
    assert (u.get(1).state, u.get(1).version) == ("processing", 3)
    lost = units(tmp_path / "lost")
    lost.request(1)
    lost.queue(latest_request_id=rid(1))
    taken = replace(request, state=RequestState.PROCESSING)
    lost.store.inject("update_request", lambda: SqlStorage.update_request(lost.store, taken))
    await lost.run(ProcessController, message(1))
    assert lost.store.get_queue(Q).in_flight_count == 0 and lost.ctx.published == []


async def test_a_failed_admit_gives_the_slot_back(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(1)
    u.queue(latest_request_id=rid(1))
    u.store.inject("update_request", RuntimeError("disk full"))
    await u.fails(ProcessController, message(1))
    assert u.store.get_queue(Q).in_flight_count == 0


async def test_a_failed_build_publish_keeps_the_slot_for_the_reconciler(tmp_path: Path) -> None:
    u = units(tmp_path)
    u.request(1)
    u.queue(latest_request_id=rid(1))
    u.ctx.fail.add(BUILD)
    assert not errs.is_retryable(await u.fails(ProcessController, message(1)))
    assert (u.get(1).state, u.store.get_queue(Q).in_flight_count) == ("processing", 1)
