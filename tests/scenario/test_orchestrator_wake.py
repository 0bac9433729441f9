"""Stages wake a queue with one pending speculate message per settle window: events that come
together are one message, an event during a run still causes another run, and a stage that fails
between its write and its wake-up wakes the queue when its delivery comes back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sq.platform.errs import RetryableError
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.entity.build import BuildStatus
from sq.submitqueue.entity.control import QueueControl, QueueMode
from sq.submitqueue.orchestrator.controller import buildsignal
from sq.submitqueue.orchestrator.controller.speculate import SpeculateController
from sq.submitqueue.orchestrator.controller.speculate_schedule import wake_speculate
from sq.submitqueue.orchestrator.profile import OrchestratorDeps
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio


async def test_builds_that_finish_together_wake_the_queue_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path, budget=4)
    await s.start()
    ids = [await s.land(f"c{i}") for i in range(4)]
    await s.settle()
    assert len(s.running_heads()) == 4
    observed: list[int] = []  # when each build's end was stored
    real = OrchestratorStorage.set_build_status

    def stored(self: OrchestratorStorage, queue: str, build_id: str, status: BuildStatus) -> None:
        real(self, queue, build_id, status)
        if status is BuildStatus.SUCCEEDED:
            observed.append(s.h.clock.now_ms())

    monkeypatch.setattr(OrchestratorStorage, "set_build_status", stored)
    await s.release()
    await s.stop()
    assert [s.log.final(r) for r in ids] == ["landed"] * 4
    assert len(observed) == 4
    assert len(set(observed)) == 1, "the four ends were observed at one instant"
    then = [
        message
        for message in s.store.messages(m.TOPIC_SPECULATE)
        if message.published_at_ms == observed[0]
    ]
    assert len(then) == 1, "four events, one pending message"


async def test_a_wake_up_during_a_run_causes_another_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path, budget=1)
    await s.start()
    s.storage.controls.apply_change(QueueControl(queue=QUEUE, mode=QueueMode.PAUSED, version=1))
    a = await s.land("a")
    await s.settle()
    assert s.builds() == 0  # paused: nothing funded
    reads: list[int] = []
    original = SpeculateController._run

    async def resumed_meanwhile(
        self: SpeculateController, queue: str, trigger: BatchID | None, now: int
    ) -> None:
        await original(self, queue, trigger, now)
        reads.append(now)
        if len(reads) == 1:  # the operator resumes after this run read, before it finished
            active = QueueControl(queue=QUEUE, mode=QueueMode.ACTIVE, version=2)
            self.deps.storage.controls.apply_change(active)
            await wake_speculate(self.deps, self.ctx, queue)

    monkeypatch.setattr(SpeculateController, "_run", resumed_meanwhile)
    b = await s.land("b")  # its intake wakes the queue: the first run, still paused
    await s.settle()
    assert s.builds() == 1, "the wake-up during the first run caused another, which funded a"
    assert len(reads) >= 2
    await s.release()
    await s.release()
    await s.stop()
    assert [s.log.final(a), s.log.final(b)] == ["landed", "landed"]


async def test_a_build_signal_that_failed_before_waking_the_queue_wakes_it_on_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path, budget=1)
    await s.start()
    a = await s.land("a")
    await s.settle()
    failed: list[str] = []

    async def fails_once(deps: OrchestratorDeps, ctx: StageContext, queue: str) -> Any:
        if not failed:  # the build's end is stored; the process stops before waking the queue
            failed.append(queue)
            raise RetryableError("connection lost")
        await wake_speculate(deps, ctx, queue)

    monkeypatch.setattr(buildsignal, "wake_speculate", fails_once)
    await s.release()
    await s.stop()
    assert failed == [QUEUE]
    assert s.log.final(a) == "landed"
