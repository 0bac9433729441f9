"""What a step's request logs cost the queue: one message per request, all in one commit, each on
its request's `log` partition."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest

from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import StageContext, TopicRegistry
from sq.submitqueue.core import messages as m
from sq.submitqueue.orchestrator.controller.common import LogBundle
from sq.submitqueue.orchestrator.profile import OrchestratorDeps
from support.mq import Harness

pytestmark = pytest.mark.anyio


async def test_a_flush_publishes_each_requests_entries_in_one_commit_on_its_partition() -> None:
    h = Harness(MemoryQueueStore())
    ctx = StageContext(
        queue=h.queue,
        topics=TopicRegistry({m.TOPIC_LOG: m.TOPIC_LOG}),
        topic_key="batch",
        consumer_group="orchestrator-batch",
    )
    bundle = LogBundle(cast(OrchestratorDeps, SimpleNamespace(clock=h.clock)), ctx)
    ids = [f"q/{n}" for n in range(1, 6)]
    for request_id in ids:
        bundle.status(request_id, "q", "batching")
        bundle.status(request_id, "q", "batched", occurrence="b1")
    before = h.queue._group.transactions
    await bundle.flush()
    assert h.queue._group.transactions - before == 1
    published = {p.partition_key: p.last_seq for p in h.store.partitions(m.TOPIC_LOG) if p.last_seq}
    expected: dict[str, int] = {}
    for request_id in ids:
        partition = m.log_partition("q", request_id)
        expected[partition] = expected.get(partition, 0) + 1
    assert published == expected
    await h.queue.close()
