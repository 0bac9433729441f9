"""Operator controls seen by the orchestrator: a paused queue funds no new build, lets the builds
that run finish (and land), and picks up where it stopped once resumed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.control import QueueMode
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(tmp_path, budget=1)
    await s.start()
    yield s
    await s.stop()


class Controls:
    """What the gateway publishes when an operator changes a queue's mode."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.version = stack, 0

    async def set(self, mode: QueueMode) -> None:
        self.version += 1
        change = m.QueueControlChange(queue=QUEUE, mode=mode.value, version=self.version)
        await self.stack.h.queue.publish(
            m.TOPIC_CONTROL, QUEUE, f"{QUEUE}/control/{self.version}", change
        )
        await self.stack.settle()


async def test_pause_starts_nothing_new_lets_running_builds_land_and_resume_continues(
    stack: Stack,
) -> None:
    controls = Controls(stack)
    a = await stack.land("a")
    await stack.settle()
    assert stack.running_heads() != []
    started = stack.builds()

    await controls.set(QueueMode.PAUSED)
    b = await stack.land("b")
    await stack.settle()
    assert stack.builds() == started  # b is queued, nothing is built for it

    await stack.release()
    assert stack.log.final(a) == "landed"  # what ran finished and landed
    assert stack.builds() == started
    assert stack.log.final(b) is None

    await controls.set(QueueMode.ACTIVE)
    assert stack.builds() > started
    await stack.release()
    assert stack.log.final(b) == "landed"
    assert stack.dead_letters() == []


async def test_an_older_change_arriving_late_does_not_undo_a_newer_one(stack: Stack) -> None:
    controls = Controls(stack)
    await controls.set(QueueMode.PAUSED)
    await controls.set(QueueMode.ACTIVE)
    late = m.QueueControlChange(queue=QUEUE, mode=QueueMode.PAUSED.value, version=1)
    await stack.h.queue.publish(m.TOPIC_CONTROL, QUEUE, "late-copy", late)
    await stack.settle()
    assert stack.storage.controls.get_control(QUEUE).mode is QueueMode.ACTIVE
    a = await stack.land("a")
    await stack.settle()
    assert stack.builds() == 1
    await stack.release()
    assert stack.log.final(a) == "landed"


async def test_a_draining_queue_lands_what_it_holds(stack: Stack) -> None:
    controls = Controls(stack)
    a = await stack.land("a")
    b = await stack.land("b")
    await stack.settle()
    await controls.set(QueueMode.DRAINING)
    await stack.release()
    await stack.release()
    assert [stack.log.final(a), stack.log.final(b)] == ["landed", "landed"]


async def test_a_change_for_a_queue_not_configured_here_is_ignored(stack: Stack) -> None:
    change = m.QueueControlChange(queue="elsewhere", mode=QueueMode.PAUSED.value, version=1)
    await stack.h.queue.publish(m.TOPIC_CONTROL, "elsewhere", "elsewhere/control/1", change)
    await stack.settle()
    assert stack.dead_letters() == []
    assert stack.storage.controls.get_control("elsewhere").version == 0
