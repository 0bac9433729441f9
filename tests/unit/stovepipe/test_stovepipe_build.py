"""build (spec §7.4) and buildsignal (§7.5): trigger once, poll by holding, stamp the outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sq.platform import errs
from sq.platform.build import BuildState
from sq.platform.build import BuildStatus as RunnerStatus
from sq.stovepipe.controller.build import BuildController
from sq.stovepipe.controller.buildsignal import BuildSignalController
from sq.stovepipe.controller.trigger import build_id_for
from sq.stovepipe.entity import Build, BuildStatus, BuildStrategy, RequestState
from sq.stovepipe.messages import BUILDSIGNAL, RECORD
from sq.stovepipe.storage import AlreadyExistsError, NotFoundError, SqlStorage
from support.stovepipe_units import PROCESSING, Q, Units, message, rid

pytestmark = pytest.mark.anyio


async def test_an_incremental_build_is_triggered_and_polled(tmp_path: Path) -> None:
    u = Units(tmp_path)
    request = u.request(
        1, RequestState.PROCESSING, build_strategy=BuildStrategy.INCREMENTAL, base_uri="G"
    )
    await u.run(BuildController, message(1))
    [spec] = u.runner.triggered
    bid = build_id_for(request)
    assert (spec.build_id, spec.base, spec.baseline) == (bid, "U1", "G")
    build = u.store.get_build(Q, bid)
    assert (build.request_id, build.status, build.version) == (rid(1), "accepted", 1)
    assert u.ctx.on(BUILDSIGNAL) == [(bid, bid, {"id": bid, "queue_name": Q, "project": ""})]


async def test_a_full_build_ignores_a_stale_base(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.request(1, RequestState.PROCESSING, build_strategy=BuildStrategy.FULL, base_uri="G")
    await u.run(BuildController, message(1))
    assert u.runner.triggered[0].baseline is None


@pytest.mark.parametrize("state", ["superseded", "succeeded", "failed", "cancelled"])
async def test_a_finished_request_is_not_built(tmp_path: Path, state: str) -> None:
    u = Units(tmp_path)
    u.request(1, RequestState(state), build_strategy=BuildStrategy.FULL)
    await u.run(BuildController, message(1))
    assert u.runner.triggered == [] and u.ctx.published == []


async def test_no_strategy_yet_is_retried(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.request(1, RequestState.PROCESSING)
    assert await u.fails(BuildController, message(1)) == errs.Verdict.INFRA_RETRYABLE
    assert u.runner.triggered == []


async def test_build_failures_are_not_retried(tmp_path: Path) -> None:
    u = Units(tmp_path)
    assert not errs.is_retryable(await u.fails(BuildController, message(1)))  # no request
    u.request(1, **PROCESSING)
    u.runner.trigger_errors["U1"] = ValueError("no such command")
    assert not errs.is_retryable(await u.fails(BuildController, message(1)))
    u.runner.trigger_errors.clear()
    u.store.inject("create_build", RuntimeError("disk full"))
    assert not errs.is_retryable(await u.fails(BuildController, message(1)))
    u.ctx.fail.add(BUILDSIGNAL)
    assert not errs.is_retryable(await u.fails(BuildController, message(1)))


async def test_a_redelivered_build_names_the_same_build(tmp_path: Path) -> None:
    """§7.4 #48/#49, deliberately different: the build id is derived from the request, so the
    runner starts one build; the second Build create is AlreadyExists and the signal goes out."""
    u = Units(tmp_path)
    u.request(1, **PROCESSING)
    await u.run(BuildController, message(1))
    await u.run(BuildController, message(1))
    assert len(u.runner.triggered) == 1
    assert len(u.ctx.on(BUILDSIGNAL)) == 2
    with pytest.raises(AlreadyExistsError):
        u.store.create_build(u.store.get_build(Q, u.runner.triggered[0].build_id))


def signal(u: Units, status: BuildStatus, polled: BuildState, **request: Any) -> Build:
    """A processing request with one Build at `status` whose runner reports `polled`."""
    r = u.request(1, **{**PROCESSING, **request})
    b = u.build(r, status, id=build_id_for(r))
    u.runner.heads[b.id] = "U1"
    u.runner.builds[b.id] = RunnerStatus(build_id=b.id, state=polled)
    return b


async def test_what_cannot_be_polled_is_never_retried(tmp_path: Path) -> None:
    u = Units(tmp_path)
    assert not errs.is_retryable(await u.fails(BuildSignalController, message("nope")))
    b = signal(u, BuildStatus.ACCEPTED, BuildState.RUNNING)
    u.runner.status_errors["U1"] = ValueError("CI is confused")
    assert not errs.is_retryable(await u.fails(BuildSignalController, message(b.id)))
    assert await u.fails(BuildSignalController, "{") == errs.Verdict.USER


@pytest.mark.parametrize("state", ["superseded", "accepted"])
async def test_a_request_without_a_slot_is_not_polled(tmp_path: Path, state: str) -> None:
    u = Units(tmp_path)
    r = u.request(1, RequestState(state))
    b = u.build(r)
    delivery = await u.run(BuildSignalController, message(b.id))
    assert delivery.held is None and u.ctx.published == []


@pytest.mark.parametrize(
    ("stored", "polled", "hold", "version"),
    [
        (BuildStatus.RUNNING, BuildState.RUNNING, 2.0, 1),
        (BuildStatus.ACCEPTED, BuildState.RUNNING, 2.0, 2),
        (BuildStatus.ACCEPTED, BuildState.PENDING, 5.0, 1),
    ],
)
async def test_an_unfinished_build_is_polled_by_holding(
    tmp_path: Path, stored: BuildStatus, polled: BuildState, hold: float, version: int
) -> None:
    u = Units(tmp_path)
    b = signal(u, stored, polled)
    delivery = await u.run(BuildSignalController, message(b.id))
    assert delivery.held == hold and u.store.get_build(Q, b.id).version == version
    assert u.ctx.published == []


@pytest.mark.parametrize(
    ("polled", "outcome"),
    [
        (BuildState.PASSED, "succeeded"),
        (BuildState.FAILED, "failed"),
        (BuildState.CANCELLED, "cancelled"),
    ],
)
async def test_a_finished_build_frees_the_slot_stamps_and_records(
    tmp_path: Path, polled: BuildState, outcome: str
) -> None:
    u = Units(tmp_path)
    u.queue(in_flight_count=1)
    b = signal(u, BuildStatus.RUNNING, polled)
    await u.run(BuildSignalController, message(b.id))
    assert u.store.get_build(Q, b.id).version == 2
    assert (u.get(1).state, u.store.get_queue(Q).in_flight_count) == (outcome, 0)
    assert u.ctx.on(RECORD) == [(rid(1), rid(1), message(1, project=""))]


async def test_a_redelivery_after_the_outcome_only_records_again(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.queue(in_flight_count=1)
    b = signal(u, BuildStatus.SUCCEEDED, BuildState.PASSED, state=RequestState.SUCCEEDED)
    calls = len(u.store.calls)
    await u.run(BuildSignalController, message(b.id))
    assert u.writes()[calls:] == [] and u.store.get_queue(Q).in_flight_count == 1
    assert len(u.ctx.on(RECORD)) == 1


async def test_a_terminal_build_status_is_written_once(tmp_path: Path) -> None:
    u = Units(tmp_path)
    b = signal(u, BuildStatus.SUCCEEDED, BuildState.FAILED)
    await u.run(BuildSignalController, message(b.id))
    assert u.store.get_build(Q, b.id).version == 1 and u.get(1).state == "succeeded"


async def test_a_build_write_conflict_is_retried(tmp_path: Path) -> None:
    u = Units(tmp_path)
    b = signal(u, BuildStatus.ACCEPTED, BuildState.RUNNING)
    u.store.inject("update_build", lambda: SqlStorage.update_build(u.store, b))
    assert await u.fails(BuildSignalController, message(b.id)) == errs.Verdict.INFRA_RETRYABLE


async def test_no_slot_release_no_outcome(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.queue(in_flight_count=1)
    b = signal(u, BuildStatus.RUNNING, BuildState.PASSED)
    u.store.inject("get_queue", RuntimeError("database gone"))
    await u.fails(BuildSignalController, message(b.id))
    assert u.get(1).state == "processing" and u.ctx.published == []


async def test_a_failed_record_publish_keeps_the_outcome(tmp_path: Path) -> None:
    u = Units(tmp_path)
    b = signal(u, BuildStatus.RUNNING, BuildState.PASSED)
    u.ctx.fail.add(RECORD)
    assert not errs.is_retryable(await u.fails(BuildSignalController, message(b.id)))
    assert u.get(1).state == "succeeded"


async def test_a_count_already_at_zero_is_not_written(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.queue()
    b = signal(u, BuildStatus.RUNNING, BuildState.PASSED)
    calls = len(u.store.calls)
    await u.run(BuildSignalController, message(b.id))
    assert "update_queue" not in u.store.calls[calls:] and u.get(1).state == "succeeded"
    with pytest.raises(NotFoundError):
        u.store.get_fact(Q, "U1")  # record, not buildsignal, writes facts
