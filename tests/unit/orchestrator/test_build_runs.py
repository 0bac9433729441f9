"""Build runs in the orchestrator's database: what lets any instance serve any build."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.build import BuildRequest, BuildState
from sq.platform.build.fake import FakeBuildRunner
from sq.platform.clock import FakeClock
from sq.platform.db import create_engine
from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus
from sq.submitqueue.entity.path import PathID
from sq.submitqueue.orchestrator.buildruns import BuildRuns
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema

pytestmark = pytest.mark.anyio

Q = "q"


def storage(tmp_path: Path) -> OrchestratorStorage:
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    return OrchestratorStorage(engine)


async def test_the_owner_stops_a_build_another_instance_asked_to_cancel(tmp_path: Path) -> None:
    store, clock = storage(tmp_path), FakeClock()
    signals: list[tuple[str, str, BuildState]] = []

    async def signal(queue: str, build_id: str, state: BuildState) -> None:
        signals.append((queue, build_id, state))

    runner = FakeBuildRunner(held=True)
    owner = BuildRuns(store, clock, owner="a", signal=signal, runner_of=lambda q: runner)
    runner.on_finish = owner.finished
    other = BuildRuns(store, clock, owner="b")
    request = BuildRequest(build_id="b1", repository="", base="", labels={"queue": Q})
    store.record_run(owner.started(Q, await runner.trigger(request)))
    run = store.get_run(Q, "b1")
    assert run is not None and run.owner == "a" and run.state is BuildState.RUNNING
    assert other.alive(run)

    store.request_cancel(Q, "b1")
    await other.beat()
    assert runner.cancelled == []
    await owner.beat()
    assert runner.cancelled == ["b1"]
    finished = store.get_run(Q, "b1")
    assert finished is not None and finished.state is BuildState.CANCELLED
    assert signals == [(Q, "b1", BuildState.CANCELLED)]


async def test_a_silent_owner_is_presumed_dead(tmp_path: Path) -> None:
    store, clock = storage(tmp_path), FakeClock()
    owner = BuildRuns(store, clock, owner="a", beat_s=5, stale_s=20)
    runner = FakeBuildRunner(held=True)
    request = BuildRequest(build_id="b1", repository="", base="")
    store.record_run(owner.started(Q, await runner.trigger(request)))
    clock.advance(15)
    await owner.beat()
    clock.advance(15)
    run = store.get_run(Q, "b1")
    assert run is not None and owner.alive(run)
    clock.advance(10)
    run = store.get_run(Q, "b1")
    assert run is not None and not owner.alive(run)


async def test_only_the_owner_records_a_verdict(tmp_path: Path) -> None:
    store, clock = storage(tmp_path), FakeClock()
    a = BuildRuns(store, clock, owner="a")
    b = BuildRuns(store, clock, owner="b")
    runner = FakeBuildRunner(held=True)
    request = BuildRequest(build_id="b1", repository="", base="", labels={"queue": Q})
    store.record_run(a.started(Q, await runner.trigger(request)))
    store.record_run(
        b.started(Q, await runner.trigger(request))
    )  # a retried trigger elsewhere takes it over
    runner.release()
    status = await runner.status("b1")
    await a.finished(request, status)
    run = store.get_run(Q, "b1")
    assert run is not None and run.owner == "b" and run.state is BuildState.RUNNING
    await b.finished(request, status)
    run = store.get_run(Q, "b1")
    assert run is not None and run.state is BuildState.PASSED


async def test_a_run_presumed_lost_keeps_that_verdict(tmp_path: Path) -> None:
    store, clock = storage(tmp_path), FakeClock()
    signals: list[tuple[str, str, BuildState]] = []

    async def signal(queue: str, build_id: str, state: BuildState) -> None:
        signals.append((queue, build_id, state))

    owner = BuildRuns(store, clock, owner="a", beat_s=5, stale_s=20, signal=signal)
    runner = FakeBuildRunner(held=True)
    request = BuildRequest(build_id="b1", repository="", base="", labels={"queue": Q})
    store.record_run(owner.started(Q, await runner.trigger(request)))
    seen = store.get_run(Q, "b1")
    assert seen is not None
    clock.advance(30)
    await owner.beat()  # the owner speaks up after all: what was read is no longer so
    assert not store.presume_lost(seen)
    silent = store.get_run(Q, "b1")
    assert silent is not None and silent.state is BuildState.RUNNING
    clock.advance(30)
    assert store.presume_lost(silent)
    runner.release()
    await owner.finished(request, await runner.status("b1"))  # its late verdict
    run = store.get_run(Q, "b1")
    assert run is not None and run.state is BuildState.CANCELLED
    assert signals == []


def test_a_stored_build_verdict_is_not_overwritten(tmp_path: Path) -> None:
    store = storage(tmp_path)
    build = Build(
        id=BuildID("b1"),
        batch_id=BatchID("h"),
        path_id=PathID("p"),
        attempt=1,
        status=BuildStatus.ACCEPTED,
    )
    store.record_builds(Q, [build])
    assert store.set_build_status(Q, build.id, BuildStatus.RUNNING)
    assert store.set_build_status(Q, build.id, BuildStatus.CANCELLED)
    assert not store.set_build_status(Q, build.id, BuildStatus.SUCCEEDED)
    assert not store.set_build_status(Q, build.id, BuildStatus.RUNNING)
    stored = store.get_build(Q, build.id)
    assert stored is not None and stored.status is BuildStatus.CANCELLED
