"""The `log` stage: the orchestrator's request-log entries, folded into the read models (§2.9).

A dead-lettered entry is reconciled by recording it anyway: the history keeps it, and the summary
takes it if it wins. Only an entry that cannot be decoded, or that names a request the gateway
never received, is left out of the summaries (and said so in the log).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pydantic
import structlog

from sq.platform.errs import Subject, UserError, attribute
from sq.platform.messagequeue import Delivery
from sq.submitqueue.core.messages import LogItem, RequestLog
from sq.submitqueue.gateway.materializer import Materializer, UnknownRequestError
from sq.submitqueue.gateway.model import LogEntry

log = structlog.get_logger(__name__)


class MalformedLogError(UserError):
    """A `log` message that is not a usable RequestLog."""


def entry_of(delivery: Delivery) -> LogEntry:
    """The first log entry a delivery carries (see `entries_of`)."""
    return entries_of(delivery)[0]


def entries_of(delivery: Delivery) -> list[LogEntry]:
    """The log entries a delivery carries, in order: the first keyed by the message id its
    producer chose (or the key it names), each further one by its own key."""
    key = delivery.message_id
    failed_group = delivery.message.failed_group
    if failed_group:  # a dead letter's id is `<group>:<original id>`
        key = key.removeprefix(f"{failed_group}:")
    try:
        message = RequestLog.model_validate(delivery.json())
    except (pydantic.ValidationError, ValueError) as exc:
        raise MalformedLogError(f"not a RequestLog: {exc}") from exc
    if not message.request_id or not message.queue:
        raise MalformedLogError("a RequestLog needs request_id, queue and a status or event")
    first = _entry(message, message.key or key, message)
    return [first, *(_entry(message, item.key, item) for item in message.more)]


def _entry(message: RequestLog, key: str, item: RequestLog | LogItem) -> LogEntry:
    value = item.status if item.type == "status" else item.event
    if not value or not key:
        raise MalformedLogError("a RequestLog needs request_id, queue and a status or event")
    return LogEntry(
        queue=message.queue,
        request_id=message.request_id,
        key=key,
        timestamp_ms=item.timestamp_ms,
        type=item.type,
        status=item.status if item.type == "status" else "",
        event=item.event if item.type == "event" else "",
        request_version=item.request_version,
        last_error=item.last_error,
        metadata=item.metadata,
    )


class LogController:
    name = "log"

    def __init__(self, materializer: Materializer) -> None:
        self.materializer = materializer

    async def process(self, delivery: Delivery) -> None:
        entries = entries_of(delivery)
        try:
            await asyncio.to_thread(self.materializer.persist_all, entries)
        except UnknownRequestError as exc:
            attribute(exc, Subject(type="request", id=entries[0].request_id))
            raise

    async def process_window(self, deliveries: Sequence[Delivery]) -> None:
        """The entries of a window, of any requests, folded in one transaction. A message that
        cannot be decoded, or names a request the gateway never received, fails the window, so
        that each message is handled alone by `process` and only that one fails."""
        entries = [entry for delivery in deliveries for entry in entries_of(delivery)]
        await asyncio.to_thread(self.materializer.persist_many, entries)


class LogReconciler:
    """DLQ reconciler of `log`: records what it can, and retries (forever) only storage errors."""

    name = "log-dlq"

    def __init__(self, materializer: Materializer) -> None:
        self.materializer = materializer

    async def process(self, delivery: Delivery) -> None:
        try:
            entries = entries_of(delivery)
        except MalformedLogError as exc:
            log.warning(
                "log entry dropped: undecodable", message_id=delivery.message_id, error=str(exc)
            )
            return
        try:
            await asyncio.to_thread(self.materializer.persist_all, entries)
        except UnknownRequestError:
            log.warning(
                "log entry kept in history only: the gateway has no such request",
                request_id=entries[0].request_id,
            )
