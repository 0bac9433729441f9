"""Hooks: tell the outside world what happened, at least once, signed, never silently lost.

A host (SubmitQueue, Stovepipe) publishes `HookEvent`s with `publish_hook` from the stage that
made the transition; its `hook_stage` dispatches them to a `HookSink` (log, webhook, composite)
and records what no sink would take (platform-spec §5; doc/hooks.md).
"""

from sq.platform.hooks.dispatcher import (
    HOOK_RETRY,
    HookDeps,
    HookDispatchController,
    HookUndeliverableReconciler,
    default_hook_deps,
    hook_stage,
)
from sq.platform.hooks.event import (
    HookEvent,
    MalformedHookEventError,
    event_id,
    new_event,
    unversioned_event_id,
    validate,
)
from sq.platform.hooks.publish import HOOK_TOPIC, hook_topic_name, hook_topic_names, publish_hook
from sq.platform.hooks.replay import replay_undeliverable
from sq.platform.hooks.sink import (
    CompositeHookSink,
    HookDeliveryError,
    HookSink,
    LogHookSink,
    PermanentHookError,
)
from sq.platform.hooks.store import (
    HookStore,
    MemoryHookStore,
    UndeliverableEvent,
    UndeliverableNotFoundError,
)
from sq.platform.hooks.webhook import WebhookHookSink, sign, verify_signature

__all__ = [
    "HOOK_RETRY",
    "HOOK_TOPIC",
    "CompositeHookSink",
    "HookDeliveryError",
    "HookDeps",
    "HookDispatchController",
    "HookEvent",
    "HookSink",
    "HookStore",
    "HookUndeliverableReconciler",
    "LogHookSink",
    "MalformedHookEventError",
    "MemoryHookStore",
    "PermanentHookError",
    "UndeliverableEvent",
    "UndeliverableNotFoundError",
    "WebhookHookSink",
    "default_hook_deps",
    "event_id",
    "hook_stage",
    "hook_topic_name",
    "hook_topic_names",
    "new_event",
    "publish_hook",
    "replay_undeliverable",
    "sign",
    "unversioned_event_id",
    "validate",
    "verify_signature",
]
