"""One change through the whole pipeline: the trail a user sees, and what was built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sq.submitqueue.core import messages as m
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(tmp_path)
    await s.start()
    yield s
    await s.stop()


async def test_a_change_lands_with_the_full_trail(stack: Stack) -> None:
    a = await stack.land("a")
    await stack.settle()
    assert stack.builds() == 1
    await stack.release()
    assert stack.log.statuses(a) == [
        "started",
        "validating",
        "validated",
        "batching",
        "batched",
        "speculating",
        "speculated",
        "landing",
        "landed",
    ]
    assert stack.log.events(a) == ["building", "built", "merged"]
    assert stack.dead_letters() == []


def published(stack: Stack, topic: str) -> int:
    return sum(p.last_seq for p in stack.store.partitions(topic))


async def test_a_landing_costs_one_conclude_and_one_log_message_per_step(stack: Stack) -> None:
    """Each request is validated once, and its batch concluded once (speculate's recovery
    conclude dedups against mergesignal's); no step logs one entry per message needlessly."""
    a = await stack.land("a")
    b = await stack.land("b")
    await stack.settle()
    await stack.release()
    assert stack.log.final(a) == stack.log.final(b) == "landed"
    assert published(stack, m.TOPIC_VALIDATE) == 2
    assert published(stack, m.TOPIC_CONCLUDE) == 2
    assert stack.log.statuses(a)[:2] == stack.log.statuses(b)[:2] == ["started", "validating"]
    assert published(stack, m.TOPIC_LOG) <= len(stack.log.entries)
    assert stack.dead_letters() == []


async def test_a_requests_log_messages_share_one_of_a_few_partitions(tmp_path: Path) -> None:
    """Each request's log messages come on one partition (its order), a queue's on at most
    `LOG_PARTITIONS`, so the gateway folds them a window at a time."""
    s = Stack(tmp_path)
    s.runner.held = False  # every build passes as it is triggered
    await s.start()
    try:
        ids = [await s.land(name) for name in "abcdefgh"]
        await s.settle()
        assert {s.log.final(sqid) for sqid in ids} == {"landed"}
        assert {sqid: len(s.log.partitions[sqid]) for sqid in ids} == dict.fromkeys(ids, 1)
        used = set().union(*s.log.partitions.values())
        assert used <= {f"{QUEUE}#log-{b}" for b in range(m.LOG_PARTITIONS)}
        assert len(used) > 1
        assert s.dead_letters() == []
    finally:
        await s.stop()


async def test_an_instant_build_logs_building_and_built_in_one_message(tmp_path: Path) -> None:
    s = Stack(tmp_path)
    s.runner.held = False  # every build passes as it is triggered
    await s.start()
    try:
        a = await s.land("a")
        await s.settle()
        assert s.log.final(a) == "landed"
        assert s.log.events(a) == ["building", "built", "merged"]
        # `building`+`built` share a message
        assert published(s, m.TOPIC_LOG) == len(s.log.entries) - 1
    finally:
        await s.stop()
