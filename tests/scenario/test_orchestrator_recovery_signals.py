"""A speculate run publishes a recovery signal naming each head before committing its verdict,
so that the hand-off after the verdict (the merge dispatch) is finished by whoever gets the
signal if the run stops in between. A process drops only the signals of its runs that finished.
One process runs the speculate stages of several queues at once: a run of another queue that
finished must not count this queue's unfinished run as done."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from sq.platform.errs import RetryableError
from sq.platform.messagequeue import Delivery
from sq.platform.messagequeue.model import SubscriptionConfig
from sq.platform.messagequeue.store import Fetched
from sq.platform.publish import intent_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, BatchState
from sq.submitqueue.entity.build import BuildStatus
from sq.submitqueue.orchestrator.controller import speculate
from sq.submitqueue.orchestrator.controller.speculate import SpeculateController
from sq.submitqueue.orchestrator.profile import Profiles
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio

OTHER = "other"


async def test_a_run_of_another_queue_does_not_swallow_a_failed_runs_recovery_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path)
    await s.start()
    await s.land("a")
    await s.settle()
    [build] = s.runner.running()
    await s.stop()  # from here on the test runs the speculate stage itself
    s.storage.set_build_status(QUEUE, build.build_id, BuildStatus.SUCCEEDED)
    head = build.labels["head"]
    stage = s.orchestrator.controllers[m.TOPIC_SPECULATE]
    assert isinstance(stage, SpeculateController)
    profile = s.deps.profiles.get(QUEUE)
    two = Profiles([profile, dataclasses.replace(profile, name=OTHER)])
    controller = SpeculateController(dataclasses.replace(s.deps, profiles=two), stage.ctx)

    signalled, other_started, other_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    publish = controller._publish

    async def recovery_first(topic: str, message_id: str, batch: Batch, **kw: Any) -> None:
        await publish(topic, message_id, batch, **kw)
        if topic == m.TOPIC_SPECULATE:  # the recovery signal, before the verdict
            signalled.set()
            await other_started.wait()

    dispatch = speculate.dispatch_merge

    async def dispatch_fails(*args: Any) -> None:  # the run stops after its verdict
        await other_done.wait()
        raise RetryableError("the merge dispatch could not be published")

    monkeypatch.setattr(controller, "_publish", recovery_first)
    monkeypatch.setattr(speculate, "dispatch_merge", dispatch_fails)
    merging = asyncio.create_task(controller.run(QUEUE, trigger=None))
    await signalled.wait()
    other = asyncio.create_task(controller.run(OTHER, trigger=None))
    await asyncio.sleep(0)  # the other queue's run has begun
    other_started.set()
    await other
    other_done.set()
    with pytest.raises(RetryableError):
        await merging
    assert s.batch_state(head) is BatchState.MERGING
    monkeypatch.setattr(speculate, "dispatch_merge", dispatch)

    [signal] = [x for x in s.store.messages(m.TOPIC_SPECULATE) if x.payload.find(head) >= 0]
    s.h.clock.advance(1)  # settled
    config = SubscriptionConfig(consumer_group="orchestrator")
    fetched = Fetched(message=signal, attempt=1, previous_retry_count=None)
    await controller.process(Delivery(fetched, config, s.h.clock.now_ms, lambda o: None, _never))
    merge = intent_id(head, "merge-dispatch", str(s.storage.get_batch(QUEUE, head).version))
    assert merge in {x.message_id for x in s.store.messages(m.TOPIC_MERGE)}


async def _never(seq: int, until_ms: int) -> bool:
    return False
