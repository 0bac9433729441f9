"""Stovepipe's pipeline on the in-memory queue: the scenarios of stovepipe-spec §7.3 to §7.7."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.stovepipe.deps import QueueSetup
from sq.stovepipe.entity import Build, BuildStatus, BuildStrategy, FailureReason
from sq.stovepipe.messages import BUILDSIGNAL, EntityMessage
from sq.stovepipe.storage import NotFoundError
from support.stovepipe import Q, Stovepipe

pytestmark = pytest.mark.anyio


async def started(tmp_path: Path, **setup: object) -> Stovepipe:
    sp = Stovepipe(tmp_path, setup=QueueSetup(name=Q, full_command="make", **setup))  # type: ignore[arg-type]
    return await sp.start()


async def test_cold_start_builds_in_full_then_records_green_and_promotes(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    [a] = await sp.push_and_ingest("A")
    await sp.settle()
    request = sp.request(a)
    assert (request.state, request.build_strategy, request.base_uri) == ("succeeded", "full", "")
    assert sp.degree("A") == 0.0
    assert (sp.queue().last_green_uri, sp.queue().last_green_request_id) == ("A", a)
    assert sp.queue().in_flight_count == 0
    assert sp.sc.promoted == ["A"]
    assert sp.runner.triggered[0].baseline is None
    await sp.stop()


async def test_a_descendant_of_last_green_builds_incrementally(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    await sp.push_and_ingest("A")
    await sp.settle()
    [b] = await sp.push_and_ingest("B")
    await sp.settle()
    request = sp.request(b)
    assert (request.build_strategy, request.base_uri) == (BuildStrategy.INCREMENTAL, "A")
    assert sp.runner.triggered[-1].baseline == "A"
    assert sp.sc.promoted == ["A", "B"]
    await sp.stop()


async def test_a_history_rewrite_forces_a_full_build(tmp_path: Path) -> None:
    """§7.3 #28/#29: last green B was force-pushed away; C does not descend from it (the fake's
    linear history reports B unknown; the real-git test covers "known but not an ancestor")."""
    sp = await started(tmp_path)
    await sp.push_and_ingest("A", "B")
    # B may have been held for a slot or a poll while A was in flight: let its hold come due.
    await sp.advance(5.0)
    assert sp.queue().last_green_uri == "B"
    sp.sc.rewrite(["A"])
    sp.sc.push("C")
    c = (await sp.ingester.ingest(Q)).id
    await sp.settle()
    request = sp.request(c)
    assert (request.build_strategy, request.base_uri) == (BuildStrategy.FULL, "")
    assert sp.runner.triggered[-1].baseline is None
    assert sp.queue().last_green_uri == "C"
    await sp.stop()


async def test_duplicate_ingest_returns_the_same_request_and_builds_once(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    sp.runner.hold.add("A")
    [a] = await sp.push_and_ingest("A")
    again = await sp.ingester.ingest(Q)
    await sp.settle()
    assert again.id == a
    assert sp.runner.heads_built == ["A"]
    assert sp.deps.counter.peek(Q, "stovepipe_request") == 1
    await sp.stop()


async def test_backlog_coalesces_to_the_newest_head(tmp_path: Path) -> None:
    """§2.2 timing 2 / §7.3 #41: A and F validated, B to E superseded; never two builds."""
    sp = await started(tmp_path)
    sp.runner.hold.add("A")
    ids = await sp.push_and_ingest("A")
    await sp.settle()
    ids += await sp.push_and_ingest("B", "C", "D")
    await sp.advance(5)  # whichever waiter held the partition wakes; stale heads supersede
    assert sp.states(ids) == ["processing", "superseded", "superseded", "accepted"]
    ids += await sp.push_and_ingest("E", "F")
    await sp.advance(5)  # D wakes: older than F
    assert sp.states(ids)[3:] == ["superseded", "superseded", "accepted"]
    assert sp.queue().in_flight_count == 1
    sp.runner.finish("A")
    await sp.advance(2)  # A's poll sees it finish
    await sp.advance(5)  # F wakes and is admitted
    assert sp.states(ids) == ["succeeded"] + ["superseded"] * 4 + ["succeeded"]
    assert sp.runner.heads_built == ["A", "F"]
    assert sp.queue().last_green_uri == "F"
    await sp.stop()


async def test_a_failed_build_records_a_broken_fact_and_leaves_last_green(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    await sp.push_and_ingest("A")
    await sp.settle()
    sp.runner.outcomes["B"] = BuildState.FAILED
    [b] = await sp.push_and_ingest("B")
    await sp.settle()
    assert sp.request(b).failure_reason == FailureReason.BUILD_FAILED
    assert sp.degree("B") == 1.0
    assert sp.queue().last_green_uri == "A"
    assert sp.sc.promoted == ["A"]
    [c] = await sp.push_and_ingest("C")
    await sp.settle()
    assert sp.request(c).base_uri == "A"  # incremental since the last green, across the failure
    assert sp.queue().last_green_uri == "C"
    await sp.stop()


async def test_out_of_order_greens_never_move_last_green_back(tmp_path: Path) -> None:
    """§7.6 #83: with two slots, the newer build finishes first; the older green does not win."""
    sp = await started(tmp_path, max_concurrent=2)
    sp.runner.hold.update({"A", "B"})
    ids = await sp.push_and_ingest("A")
    await sp.settle()
    ids += await sp.push_and_ingest("B")
    await sp.settle()
    assert sp.states(ids) == ["processing", "processing"]
    sp.runner.finish("B")
    await sp.advance(2)
    sp.runner.finish("A")
    await sp.advance(2)
    assert sp.degree("A") == sp.degree("B") == 0.0
    assert sp.queue().last_green_request_id == ids[1]
    assert sp.sc.promoted == ["B"]
    await sp.stop()


async def test_a_build_that_cannot_start_fails_closed_and_frees_the_queue(tmp_path: Path) -> None:
    """§7.7 #93: trigger fails for good → build_dlq fails the request → the next head runs."""
    sp = await started(tmp_path)
    sp.runner.trigger_errors["A"] = ValueError("no such command")
    [a] = await sp.push_and_ingest("A")
    await sp.settle(dead_letters=1)
    assert sp.request(a).state == "failed"
    assert sp.request(a).failure_reason == FailureReason.RECONCILED
    assert sp.queue().in_flight_count == 0
    [b] = await sp.push_and_ingest("B")
    await sp.settle()
    assert sp.request(b).state == "succeeded"
    with pytest.raises(NotFoundError):
        sp.store.get_fact(Q, "A")  # no build outcome ever reached record
    await sp.stop()


async def test_a_late_success_after_fail_closed_is_dropped(tmp_path: Path) -> None:
    """§7.7 #92: the request stays failed, the slot is not released twice, the fact is broken."""
    sp = await started(tmp_path)
    sp.runner.status_errors["A"] = ValueError("CI lost its mind")
    [a] = await sp.push_and_ingest("A")
    await sp.settle(dead_letters=1)
    assert (sp.request(a).state, sp.queue().in_flight_count) == ("failed", 0)
    del sp.runner.status_errors["A"]
    # a duplicate build of the same request whose poll chain survived, and which passed
    sp.runner.builds["dup"] = sp.runner.builds[sp.runner.triggered[0].build_id]
    sp.runner.heads["dup"] = "A"
    build = Build(
        id="dup",
        queue=Q,
        request_id=a,
        status=BuildStatus.ACCEPTED,
        created_at_ms=sp.h.clock.now_ms(),
    )
    sp.store.create_build(build)
    await sp.h.queue.publish(BUILDSIGNAL, "dup", "dup", EntityMessage(id="dup", queue_name=Q))
    await sp.settle()
    assert sp.store.get_build(Q, "dup").status == BuildStatus.SUCCEEDED
    assert (sp.request(a).state, sp.queue().in_flight_count) == ("failed", 0)
    assert sp.degree("A") == 1.0
    assert sp.queue().last_green_uri == ""
    assert sp.sc.promoted == []
    await sp.stop()


async def test_a_build_past_its_deadline_fails_closed(tmp_path: Path) -> None:
    sp = await started(tmp_path, max_validation_ms=60_000)
    sp.runner.hold.add("A")
    [a] = await sp.push_and_ingest("A")
    await sp.settle()
    for _ in range(31):
        await sp.advance(2)
    request = sp.request(a)
    assert (request.state, request.failure_reason) == ("failed", FailureReason.DEADLINE)
    assert sp.degree("A") == 1.0
    assert sp.queue().in_flight_count == 0
    await sp.stop()


async def test_a_build_the_runner_forgot_is_triggered_again(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    sp.runner.hold.add("A")
    [a] = await sp.push_and_ingest("A")
    await sp.settle()
    sp.runner.forget()
    sp.runner.hold.clear()
    await sp.advance(2)
    assert sp.request(a).state == "succeeded"
    assert sp.runner.heads_built == ["A", "A"]
    await sp.stop()


async def test_a_superseded_head_reingested_is_not_validated_again(tmp_path: Path) -> None:
    """§7.3 #42 and §1.3: a URI is validated at most once."""
    sp = await started(tmp_path)
    sp.runner.hold.add("A")
    ids = await sp.push_and_ingest("A")
    await sp.settle()
    ids += await sp.push_and_ingest("B", "C")
    await sp.advance(5)
    assert sp.states(ids) == ["processing", "superseded", "accepted"]
    sp.sc.rewrite(["B", "A"])  # the ref goes back to B
    again = await sp.ingester.ingest(Q)
    assert again.id == ids[1]
    assert again.state == "superseded"
    await sp.stop()
