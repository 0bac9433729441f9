"""What the intake stages share as window controllers (doc/platform.md, window controller): a
window of one queue's deliveries read once and written once, and published together."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from sq.platform.consumer import Controller
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext

Outgoing = tuple[str, str, str, Any]
"""A message to publish: topic key, partition key, message id, payload."""


def one_queue(queues: Sequence[str], ids: Sequence[str]) -> str | None:
    """The queue of a window that names one queue and each entity once; None otherwise (such a
    window is handled one delivery at a time: a message that finds what the one before it in
    the same window wrote is what `process` models, and a window does not)."""
    if len(set(queues)) != 1 or len(set(ids)) != len(ids):
        return None
    return queues[0]


async def one_by_one(controller: Controller, deliveries: Sequence[Delivery]) -> None:
    for delivery in deliveries:
        await controller.process(delivery)


async def publish_all(ctx: StageContext, messages: Iterable[Outgoing]) -> None:
    """Publish concurrently, so that the messages share one group commit (in the given order)."""
    await asyncio.gather(*(ctx.publish(*message) for message in messages))
