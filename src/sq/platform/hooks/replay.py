"""Manual recovery of an undeliverable hook event: publish it again, then forget the record."""

from __future__ import annotations

import asyncio
import hashlib

from sq.platform.hooks.event import HookEvent, validate
from sq.platform.hooks.publish import publish_hook
from sq.platform.hooks.store import HookStore, UndeliverableEvent, UndeliverableNotFoundError
from sq.platform.messagequeue import MessageQueue


def replay_message_id(record: UndeliverableEvent) -> str:
    """A new message id per recorded failure: the original id is still stored on the topic (and
    would dedup), while replaying the same record twice publishes once."""
    digest = hashlib.sha256(record.event_id.encode("utf-8")).hexdigest()[:40]
    return f"replay#{digest}#{record.recorded_at_ms}"


async def replay_undeliverable(
    store: HookStore, queue: MessageQueue, topic: str, event_id: str
) -> HookEvent:
    """Republish the recorded event (same event id, so receivers dedup) to the physical hook
    `topic` and remove its record. Raises UndeliverableNotFoundError, or MalformedHookEventError
    for a record that holds no valid event (it cannot be replayed)."""
    record = await asyncio.to_thread(store.get_undeliverable, event_id)
    if record is None:
        raise UndeliverableNotFoundError(f"no undeliverable hook event {event_id!r}")
    event = validate(record.event)
    await publish_hook(queue, event, topic=topic, message_id=replay_message_id(record))
    await asyncio.to_thread(store.remove_undeliverable, record.event_id, record.recorded_at_ms)
    return event
