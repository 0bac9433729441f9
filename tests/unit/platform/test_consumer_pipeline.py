"""The outcome table, the gate and the pipeline engine on the in-memory queue (spec §6.9)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from sq.platform.consumer.gate import MemoryGate
from sq.platform.errs import OUTAGE_RETRY_MS, RetryableError, Subject, UserError, attribute
from sq.platform.messagequeue import Delivery, RetryPolicy
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import PipelineError, Stage, StageContext, construct
from support.mq import Harness

pytestmark = pytest.mark.anyio


@dataclass
class Script:
    """A controller whose behaviour per message id is set by the test."""

    name: str = "script"
    actions: dict[str, object] = field(default_factory=dict)
    seen: list[tuple[str, int]] = field(default_factory=list)
    context: StageContext | None = None

    async def process(self, delivery: Delivery) -> None:
        self.seen.append((delivery.message_id, delivery.attempt))
        action = self.actions.get(delivery.message_id)
        if isinstance(action, BaseException):
            raise action
        if isinstance(action, float):
            delivery.hold(action)
        if action == "forward" and self.context is not None:
            await self.context.publish(
                "second",
                delivery.partition_key,
                f"{delivery.message_id}/forwarded",
                delivery.json(),
            )


@dataclass
class Deps:
    first: Script
    second: Script
    dlq: Script


def stages() -> list[Stage[Deps]]:
    def first(d: Deps, ctx: StageContext) -> Script:
        d.first.context = ctx
        return d.first

    return [
        Stage(
            key="first",
            consumer_group="one",
            new=first,
            dlq=lambda d, _: d.dlq,
            config={"retry": RetryPolicy(max_attempts=2, initial_backoff_ms=100)},
        ),
        Stage(
            key="second", consumer_group="two", new=lambda d, _: d.second, dlq=lambda d, _: d.dlq
        ),
    ]


async def run(deps: Deps, gate: MemoryGate | None = None) -> Harness:
    h = Harness(MemoryQueueStore())
    pipeline = construct(h.queue, deps, stages(), gate=gate)
    await pipeline.start()
    h.pipeline = pipeline  # type: ignore[attr-defined]
    return h


async def test_success_acks_and_a_stage_publishes_downstream() -> None:
    deps = Deps(Script(actions={"m": "forward"}), Script(), Script())
    h = await run(deps)
    await h.publish("first", "p", "m", {"x": 1})
    await h.settle()
    assert deps.first.seen == [("m", 1)]
    assert deps.second.seen == [("m/forwarded", 1)]
    assert h.store.watermark("one", "first", "p") == 1
    await h.queue.close()


async def test_retryable_errors_back_off_then_reach_the_dlq_reconciler() -> None:
    deps = Deps(Script(actions={"m": RetryableError("flaky")}), Script(), Script())
    h = await run(deps)
    await h.publish("first", "p", "m")
    await h.advance(0.1, dead_letters=1)
    await h.settle()
    assert deps.first.seen == [("m", 1), ("m", 2)]
    assert [mid for mid, _ in deps.dlq.seen] == ["one:m"]
    await h.queue.close()


async def test_an_unreachable_database_postpones_without_spending_attempts() -> None:
    """Refused connections for longer than the stage's retries last: the message waits out the
    outage (postponed, attempts not spent) and is processed once the database answers."""
    import psycopg

    refused = psycopg.OperationalError("connection refused")
    deps = Deps(Script(actions={"m": refused}), Script(), Script())
    h = await run(deps)
    await h.publish("first", "p", "m")
    await h.settle()
    for _ in range(4):  # 4 outage retries, past max_attempts=2
        await h.advance(OUTAGE_RETRY_MS / 1000)
    assert len(deps.first.seen) == 5
    assert deps.dlq.seen == []
    deps.first.actions["m"] = None
    await h.advance(OUTAGE_RETRY_MS / 1000)
    await h.settle()
    assert deps.dlq.seen == []
    assert h.store.watermark("one", "first", "p") == 1
    await h.queue.close()


class RateLimitedError(RetryableError):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__("rate limited")
        self.retry_after_s = retry_after_s


async def test_a_rate_limit_hint_delays_the_retry_beyond_the_backoff() -> None:
    # The stage's backoff is 100 ms; the dependency asked for 5 s (Retry-After), wrapped once.
    wrapped = RetryableError("could not trigger the build")
    wrapped.__cause__ = RateLimitedError(5.0)
    deps = Deps(Script(actions={"m": wrapped}), Script(), Script())
    h = await run(deps)
    await h.publish("first", "p", "m")
    await h.settle()
    await h.advance(4.5)
    assert deps.first.seen == [("m", 1)]
    deps.first.actions["m"] = None
    await h.advance(1.0)
    assert deps.first.seen == [("m", 1), ("m", 2)]
    await h.queue.close()


async def test_an_unclassified_error_is_dead_lettered_at_once_with_its_subjects() -> None:
    error = attribute(ValueError("bad payload"), Subject(type="request", id="q/1"))
    deps = Deps(Script(actions={"m": error}), Script(), Script())
    h = await run(deps)
    received: list[Delivery] = []

    async def remember(delivery: Delivery) -> None:
        received.append(delivery)

    deps.dlq.process = remember  # type: ignore[method-assign]
    await h.publish("first", "p", "m")
    await h.settle(dead_letters=1)
    assert deps.first.seen == [("m", 1)]
    assert received[0].failure is not None
    assert received[0].failure.message == "bad payload"
    assert received[0].failure.ids_of_type("request") == ["q/1"]
    await h.queue.close()


async def test_a_dlq_reconciler_is_retried_instead_of_dead_lettered() -> None:
    deps = Deps(
        Script(actions={"m": UserError("no")}),
        Script(),
        Script(actions={"one:m": UserError("still no")}),
    )
    h = await run(deps)
    await h.publish("first", "p", "m")
    await h.settle(dead_letters=1)
    await h.advance(1.0)
    assert [a for _, a in deps.dlq.seen] == [1, 2]
    assert h.store.partitions("first_dlq_dlq") == []
    await h.queue.close()


async def test_a_hold_comes_back_as_attempt_one_and_a_failure_beats_a_hold() -> None:
    deps = Deps(Script(actions={"m": 2.0}), Script(), Script())
    h = await run(deps)
    await h.publish("first", "p", "m")
    await h.publish("first", "p", "after")
    await h.settle()
    deps.first.actions["m"] = None
    await h.advance(2.0)
    assert deps.first.seen[0] == ("m", 1)
    assert ("m", 1) in deps.first.seen[1:]
    assert deps.first.seen.index(("after", 1)) > 0
    await h.queue.close()


async def test_a_closed_gate_parks_and_postpones_then_releases() -> None:
    gate = MemoryGate()
    gate.closed.add(("one", "p"))
    deps = Deps(Script(), Script(), Script())
    h = await run(deps, gate)
    await h.publish("first", "p", "m")
    await h.publish("first", "other", "o")
    await h.settle()
    assert deps.first.seen == [("o", 1)]
    assert [r.message_id for r in gate.parked.values()] == ["m"]
    await h.advance(1.0)
    assert deps.first.seen == [("o", 1)], "still closed: re-checked and postponed again"
    gate.closed.clear()
    await h.advance(1.0)
    assert deps.first.seen == [("o", 1), ("m", 1)]
    assert gate.parked == {}
    await h.queue.close()


async def test_a_first_delivery_through_an_open_gate_writes_nothing_to_it() -> None:
    class CountingGate(MemoryGate):
        unparks = 0

        def unpark(
            self, consumer_group: str, topic: str, partition_key: str, message_id: str
        ) -> None:
            self.unparks += 1
            super().unpark(consumer_group, topic, partition_key, message_id)

    gate = CountingGate()
    deps = Deps(Script(), Script(), Script())
    h = await run(deps, gate)
    await h.publish("first", "p", "m")
    await h.settle()
    assert deps.first.seen == [("m", 1)]
    assert gate.unparks == 0
    await h.queue.close()


async def test_an_unreadable_gate_fails_open() -> None:
    gate = MemoryGate()
    gate.fail_reads = True
    deps = Deps(Script(), Script(), Script())
    h = await run(deps, gate)
    await h.publish("first", "p", "m")
    await h.settle()
    assert deps.first.seen == [("m", 1)]
    await h.queue.close()


def test_the_engine_validates_its_stage_table() -> None:
    queue = Harness(MemoryQueueStore()).queue
    deps = Deps(Script(), Script(), Script())
    with pytest.raises(PipelineError, match="at least one stage"):
        construct(queue, deps, [])
    with pytest.raises(PipelineError, match="no DLQ reconciler"):
        construct(
            queue, deps, [Stage(key="a", consumer_group="g", new=lambda d, _: d.first, dlq=None)]
        )
    with pytest.raises(PipelineError, match="declared twice"):
        construct(queue, deps, [stages()[0], stages()[0]])

    def broken(d: Deps, _: StageContext) -> Script:
        raise LookupError("no merger configured")

    with pytest.raises(PipelineError, match="stage 'a': cannot build its controller: no merger"):
        construct(
            queue, deps, [Stage(key="a", consumer_group="g", new=broken, dlq=lambda d, _: d.dlq)]
        )
    with pytest.raises(PipelineError, match="invalid physical name"):
        construct(queue, deps, stages(), topic_names={"first": "Not Valid"})


def test_the_engine_pairs_every_topic_with_its_dlq() -> None:
    queue = Harness(MemoryQueueStore()).queue
    contexts: list[StageContext] = []

    def capture(d: Deps, ctx: StageContext) -> Script:
        contexts.append(ctx)
        return d.first

    pipeline = construct(
        queue,
        Deps(Script(), Script(), Script()),
        [Stage(key="start", consumer_group="orch", new=capture, dlq=capture)],
        topic_names={"start": "sq-start"},
        publish_only=["log"],
    )
    assert [(c.topic_key, c.consumer_group) for c in contexts] == [
        ("start", "orch"),
        ("start_dlq", "orch-dlq"),
    ]
    assert pipeline.topics.name("start_dlq") == "sq-start_dlq"
    assert pipeline.topics.name("log") == "log"
