"""The stage counters move once per handled message, by outcome, from the platform's wrapper."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from sq.platform.errs import RetryableError, UserError
from sq.platform.messagequeue import Delivery, RetryPolicy
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import Stage, construct
from support.mq import Harness

pytestmark = pytest.mark.anyio
STAGE, GROUP = "metered-stage", "metered-group"


class Scripted:
    name = STAGE

    def __init__(self) -> None:
        self.errors: dict[str, Exception] = {}

    async def process(self, delivery: Delivery) -> None:
        error = self.errors.pop(delivery.message_id, None)
        if error is not None:
            raise error


class Quiet:
    name = "metered-dlq"

    async def process(self, delivery: Delivery) -> None:
        return None


def sample(name: str) -> float:
    found = REGISTRY.get_sample_value(name, {"stage": STAGE, "consumer_group": GROUP})
    return found or 0.0


async def test_processed_failed_and_dead_lettered_are_counted_apart() -> None:
    names = (
        "sq_stage_messages_processed_total",
        "sq_stage_messages_failed_total",
        "sq_stage_messages_dead_lettered_total",
        "sq_stage_processing_seconds_count",
    )
    before = {n: sample(n) for n in names}
    controller = Scripted()
    controller.errors = {"retried": RetryableError("flaky"), "bad": UserError("no")}
    spent = Scripted()
    spent.errors = {"spent": RetryableError("down")}  # one attempt only: dead-lettered
    stage = Stage(
        key="metered",
        consumer_group=GROUP,
        new=lambda _d, _c: controller,
        dlq=lambda _d, _c: Quiet(),
        config={"retry": RetryPolicy(max_attempts=3, initial_backoff_ms=100)},
    )
    once = Stage(
        key="metered-once",
        consumer_group=GROUP,
        new=lambda _d, _c: spent,
        dlq=lambda _d, _c: Quiet(),
        config={"retry": RetryPolicy(max_attempts=1)},
    )
    h = Harness(MemoryQueueStore())
    pipeline = construct(h.queue, None, [stage, once])
    await pipeline.start()
    for message_id in ("ok", "retried", "bad"):
        await h.publish("metered", message_id, message_id)
    await h.publish("metered-once", "spent", "spent")
    await h.settle(dead_letters=2)  # "bad" fails with a user error, "spent" runs out of attempts
    await h.advance(0.2)
    await h.settle()
    await pipeline.stop()
    await h.queue.close()
    moved = {n: sample(n) - before[n] for n in names}
    assert moved == {
        "sq_stage_messages_processed_total": 2,  # ok, then retried on its second attempt
        "sq_stage_messages_failed_total": 2,  # retried's first attempt, spent's only one
        "sq_stage_messages_dead_lettered_total": 2,  # bad at once, spent with no attempt left
        "sq_stage_processing_seconds_count": 5,
    }
