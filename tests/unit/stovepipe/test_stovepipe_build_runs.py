"""buildsignal with build runs in the database: any instance concludes a build from its run, waits
while the run's owner lives, and builds again (never fails) when the owner's runner is gone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.stovepipe.buildruns import BuildRuns
from sq.stovepipe.controller.buildsignal import BuildSignalController
from sq.stovepipe.controller.trigger import build_id_for
from sq.stovepipe.entity import BuildStatus, RequestState
from sq.stovepipe.entity.run import BuildRun
from sq.stovepipe.messages import RECORD
from support.stovepipe_units import PROCESSING, Q, Units

pytestmark = pytest.mark.anyio

STALE_S = 3.0


def units(tmp_path: Path) -> Units:
    u = Units(tmp_path)
    runs = BuildRuns(u.store, u.clock, owner="me", beat_s=1.0, stale_s=STALE_S)
    u.deps = dataclasses.replace(u.deps, runs=runs)
    return u


def started_elsewhere(u: Units, state: BuildState = BuildState.RUNNING, **kw: object) -> str:
    """Request 1 processing, its build accepted, run by the instance `other`."""
    request = u.request(1, **PROCESSING)  # type: ignore[arg-type]
    build = u.build(request, id=build_id_for(request))
    run = BuildRun(
        queue=Q, build_id=build.id, owner="other", state=state, heartbeat_ms=u.clock.now_ms()
    )
    u.store.record_run(dataclasses.replace(run, **kw))  # type: ignore[arg-type]
    return build.id


async def test_a_live_owners_build_is_waited_for_not_built_again(tmp_path: Path) -> None:
    u = units(tmp_path)
    bid = started_elsewhere(u)
    delivery = await u.run(BuildSignalController, {"id": bid, "queue_name": Q})
    assert u.runner.triggered == []
    assert delivery.held is not None
    assert u.store.get_build(Q, bid).status is BuildStatus.RUNNING


async def test_the_owners_recorded_verdict_concludes_the_build_here(tmp_path: Path) -> None:
    u = units(tmp_path)
    bid = started_elsewhere(u, BuildState.PASSED)
    await u.run(BuildSignalController, {"id": bid, "queue_name": Q})
    assert u.runner.triggered == []
    assert u.get(1).state is RequestState.SUCCEEDED
    assert len(u.ctx.on(RECORD)) == 1


@pytest.mark.parametrize(
    ("state", "silent_s"),
    [(BuildState.RUNNING, STALE_S + 1), (BuildState.CANCELLED, 0.0)],
    ids=["owner-silent", "cancelled-unasked"],
)
async def test_a_build_whose_runner_is_gone_is_built_again_here_never_failed(
    tmp_path: Path, state: BuildState, silent_s: float
) -> None:
    u = units(tmp_path)
    u.runner.hold.add("U1")
    bid = started_elsewhere(u, state)
    u.clock.advance(silent_s)
    delivery = await u.run(BuildSignalController, {"id": bid, "queue_name": Q})
    assert [r.build_id for r in u.runner.triggered] == [bid]
    assert delivery.held is not None
    assert u.get(1).state is RequestState.PROCESSING
    run = u.store.get_run(Q, bid)
    assert run is not None and (run.owner, run.state) == ("me", BuildState.RUNNING)


async def test_an_asked_cancellation_stands(tmp_path: Path) -> None:
    u = units(tmp_path)
    bid = started_elsewhere(u, BuildState.CANCELLED, cancel_requested=True)
    await u.run(BuildSignalController, {"id": bid, "queue_name": Q})
    assert u.runner.triggered == []
    assert u.get(1).state is RequestState.CANCELLED
