"""The message queue at work: a two-stage pipeline on the embedded SQLite queue, with a trail.

Orders go into `demo-accept`, whose controller checks them and hands them to `demo-ship`. One
order fails once with a transient error (retried after backoff), one is held back for a moment (a
hold), one is malformed (dead-lettered and reconciled), the rest pass straight through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.errs import RetryableError, UserError
from sq.platform.messagequeue import Delivery, MessageQueue, RetryPolicy
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.pipeline import Pipeline, Stage, StageContext, construct
from sq.platform.publish import intent_id

Trail = Callable[[str, str], None]


@dataclass
class DemoDeps:
    trail: Trail
    shipped: set[str] = field(default_factory=set)
    reconciled: set[str] = field(default_factory=set)
    transient_left: dict[str, int] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)


@dataclass
class AcceptController:
    deps: DemoDeps
    ctx: StageContext
    name: str = "accept"

    async def process(self, delivery: Delivery) -> None:
        order = delivery.json()
        oid = str(order.get("id", "?"))
        self.deps.trail(oid, f"accept (attempt {delivery.attempt})")
        if "items" not in order:
            raise UserError(f"order {oid} has no items")
        if self.deps.transient_left.get(oid, 0) > 0:
            self.deps.transient_left[oid] -= 1
            raise RetryableError("stock service timed out")
        if order.get("hold") and oid not in self.deps.held:
            self.deps.held.add(oid)
            self.deps.trail(oid, "held for 1s")
            delivery.hold(1.0)
            return
        await self.ctx.publish(
            "demo-ship", delivery.partition_key, intent_id(oid, "accepted"), order
        )


@dataclass
class ShipController:
    deps: DemoDeps
    name: str = "ship"

    async def process(self, delivery: Delivery) -> None:
        oid = str(delivery.json()["id"])
        self.deps.shipped.add(oid)
        self.deps.trail(oid, "shipped")


@dataclass
class Reconciler:
    deps: DemoDeps
    name: str = "reconcile"

    async def process(self, delivery: Delivery) -> None:
        oid = str(delivery.json().get("id", "?"))
        reason = delivery.failure.message if delivery.failure else "unknown"
        self.deps.reconciled.add(oid)
        self.deps.trail(oid, f"dead-lettered, reconciled as rejected ({reason})")


STAGES: list[Stage[DemoDeps]] = [
    Stage(
        key="demo-accept",
        consumer_group="demo-accept",
        new=AcceptController,
        dlq=lambda d, _: Reconciler(d),
        config={"retry": RetryPolicy(max_attempts=3, initial_backoff_ms=300)},
    ),
    Stage(
        key="demo-ship",
        consumer_group="demo-ship",
        new=lambda d, _: ShipController(d),
        dlq=lambda d, _: Reconciler(d),
    ),
]


def orders(count: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(1, count + 1):
        order: dict[str, object] = {"id": f"order-{i}", "items": ["widget"] * i}
        if i == 2:
            order["hold"] = True
        if i == 4:
            del order["items"]
        out.append(order)
    return out


async def run_demo(data_dir: Path, count: int, trail: Trail, poll_ms: int = 100) -> DemoDeps:
    """Publish `count` orders over three partitions and run until every one is settled."""
    path = data_dir / "demo-queue.db"
    path.unlink(missing_ok=True)
    engine = create_engine(str(path))
    migrations.upgrade(engine, migrations.queue_schema())
    store = SqlQueueStore(engine)
    queue = MessageQueue(store)
    deps = DemoDeps(trail=trail, transient_left={"order-3": 1})
    pipeline: Pipeline = construct(queue, deps, STAGES, base_config={"poll_interval_ms": poll_ms})
    await pipeline.start()
    try:
        for n, order in enumerate(orders(count)):
            customer = f"customer-{n % 3}"
            await queue.publish("demo-accept", customer, intent_id(str(order["id"])), order)
            trail(str(order["id"]), f"published to demo-accept (partition {customer})")
        deadline = time.monotonic() + 60
        while len(deps.shipped) + len(deps.reconciled) < count:
            if time.monotonic() > deadline:
                raise TimeoutError("the demo did not settle within 60 s")
            await asyncio.sleep(0.05)
    finally:
        await pipeline.stop()
        await queue.close()
        store.close()
        engine.dispose()
    return deps
