"""The hook stage of a host (platform-spec §5.2): a dispatcher on the hook topic that hands each
event to the sink, and a DLQ reconciler that records the events no sink would take.

The dispatcher dead-letters a malformed event (never acks it silently), skips an event its ledger
says was delivered already, and leaves sink errors to the outcome table: retryable ones come back
with backoff, the rest are dead-lettered at once. The reconciler writes the complete event, why
it failed and when, into the host's own database and acks; it never touches pipeline state.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from prometheus_client import Counter

from sq.platform.clock import Clock, SystemClock
from sq.platform.hooks.event import validate
from sq.platform.hooks.publish import HOOK_TOPIC
from sq.platform.hooks.sink import HookSink, LogHookSink
from sq.platform.hooks.store import HookStore, MemoryHookStore, UndeliverableEvent
from sq.platform.messagequeue import Delivery, RetryPolicy
from sq.platform.pipeline import Stage, StageContext

log = structlog.get_logger("sq.hooks")

D = TypeVar("D")

HOOK_RETRY = RetryPolicy(max_attempts=12, initial_backoff_ms=1000, max_backoff_ms=300_000)
"""A receiver may be down for a while: about 25 minutes of retries before an event is given up."""

DELIVERED_RETENTION_MS = 7 * 24 * 3600 * 1000
_PRUNE_EVERY = 256

DELIVERED = Counter(
    "sq_hook_deliveries_total",
    "Hook events a sink accepted",
    ["source"],
)
UNDELIVERABLE = Counter(
    "sq_hook_undeliverable_total",
    "Hook events recorded as undeliverable (page on any increase)",
    ["source"],
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HookDeps:
    """What a host's hook stage needs; one per host, built by the service layer."""

    sink: HookSink
    store: HookStore
    clock: Clock
    delivered_retention_ms: int = DELIVERED_RETENTION_MS


class HookDispatchController:
    name = "hook-dispatch"

    def __init__(self, hooks: HookDeps, ctx: StageContext) -> None:
        self.hooks, self.ctx = hooks, ctx
        self._marks = 0

    async def process(self, delivery: Delivery) -> None:
        event = validate(delivery.message.payload)
        store = self.hooks.store
        if await asyncio.to_thread(store.is_delivered, event.id):
            return
        await self.hooks.sink.handle(event)
        now = self.hooks.clock.now_ms()
        await asyncio.to_thread(store.mark_delivered, event.id, now)
        DELIVERED.labels(source=event.source or "unknown").inc()
        self._marks += 1
        if self._marks % _PRUNE_EVERY == 0:
            await asyncio.to_thread(store.prune_delivered, now - self.hooks.delivered_retention_ms)


class HookUndeliverableReconciler:
    name = "hook-undeliverable"

    def __init__(self, hooks: HookDeps, ctx: StageContext) -> None:
        self.hooks, self.ctx = hooks, ctx

    async def process(self, delivery: Delivery) -> None:
        record = undeliverable_record(delivery, self.hooks.clock.now_ms())
        await asyncio.to_thread(self.hooks.store.record_undeliverable, record)
        UNDELIVERABLE.labels(source=record.source or "unknown").inc()
        log.error(
            "hook event undeliverable",
            event_id=record.event_id,
            source=record.source,
            event_type=record.type,
            reason=record.reason,
            attempts=record.attempts,
            event=record.event,
        )


def undeliverable_record(delivery: Delivery, now_ms: int) -> UndeliverableEvent:
    message = delivery.message
    failure = delivery.failure
    # Dead letters are group-local: their id is `<group>:<original id>`.
    message_id = message.message_id
    if message.failed_group:
        message_id = message_id.removeprefix(f"{message.failed_group}:")
    reason = failure.message if failure is not None else message.last_error
    if failure is not None and failure.detail:
        reason = f"{reason} {json.dumps(dict(failure.detail), sort_keys=True, default=str)}"
    try:
        event = validate(message.payload)
    except Exception as exc:  # noqa: BLE001  a malformed event is still recorded, never lost
        return UndeliverableEvent(
            event_id=message_id,
            source="",
            type="",
            subject="",
            event=message.payload,
            reason=reason or str(exc),
            failed_at_ms=message.failed_at_ms or now_ms,
            attempts=message.failure_count,
            message_id=message_id,
            recorded_at_ms=now_ms,
        )
    return UndeliverableEvent(
        event_id=event.id,
        source=event.source,
        type=event.type,
        subject=event.subject,
        event=message.payload,
        reason=reason or "unknown failure",
        failed_at_ms=message.failed_at_ms or now_ms,
        attempts=message.failure_count,
        message_id=message_id,
        recorded_at_ms=now_ms,
    )


def hook_stage(
    *,
    consumer_group: str,
    hooks: Callable[[D], HookDeps],
    retry: RetryPolicy = HOOK_RETRY,
) -> Stage[D]:
    """The hook stage for a host's stage table: the dispatcher and its undeliverable reconciler.

    `hooks` picks the HookDeps out of the host's deps. Map `HOOK_TOPIC` to the host's own physical
    topic with `construct(..., topic_names=hook_topic_names(source))`.
    """
    return Stage(
        key=HOOK_TOPIC,
        consumer_group=consumer_group,
        new=lambda deps, ctx: HookDispatchController(hooks(deps), ctx),
        dlq=lambda deps, ctx: HookUndeliverableReconciler(hooks(deps), ctx),
        config={"retry": retry},
    )


def default_hook_deps(clock: Clock | None = None) -> HookDeps:
    """A log sink over an in-memory store: for hosts and tests that wire no hooks of their own."""
    return HookDeps(sink=LogHookSink(), store=MemoryHookStore(), clock=clock or SystemClock())
