"""Publishing hook events onto a domain's hook topic (platform-spec §5.2).

The hook topic key is per host: every domain registers `HOOK_TOPIC` and maps it to its own
physical topic (`hook_topic_name(source)`), so domains sharing one queue backend never read each
other's events. The partition key is the subject id, so order holds per subject only.
"""

from __future__ import annotations

from sq.platform.hooks.event import HookEvent, MalformedHookEventError, validate
from sq.platform.messagequeue import MessageQueue
from sq.platform.pipeline import StageContext

HOOK_TOPIC = "hook"


def hook_topic_name(source: str) -> str:
    """The physical topic that carries `source`'s hook events, e.g. `submitqueue_hook`."""
    return f"{source}_{HOOK_TOPIC}"


def hook_topic_names(source: str) -> dict[str, str]:
    """`topic_names` for `construct`: maps the hook key of this host to its physical topic."""
    return {HOOK_TOPIC: hook_topic_name(source)}


async def publish_hook(
    target: StageContext | MessageQueue,
    event: HookEvent,
    *,
    topic: str | None = None,
    message_id: str | None = None,
) -> bool:
    """Publish `event` (message id = event id, partition key = its subject); False on a dedup.

    From a stage, pass its `StageContext`: the hook key must be registered in the pipeline (the
    host's stage table includes `hook_stage`). With a bare `MessageQueue`, name the physical
    `topic`. Raises `MalformedHookEventError` for an invalid event or one without a subject. A
    failed publish raises, so the calling stage fails and nothing is lost silently.
    """
    event = validate(event)
    if not event.subject:
        raise MalformedHookEventError(f"hook event {event.id!r}: payload has no subject")
    message_id = message_id or event.id
    if isinstance(target, StageContext):
        if topic is not None:
            return await target.queue.publish(topic, event.subject, message_id, event)
        return await target.publish(HOOK_TOPIC, event.subject, message_id, event)
    if topic is None:
        raise ValueError("publish_hook on a bare MessageQueue needs the physical topic")
    return await target.publish(topic, event.subject, message_id, event)
