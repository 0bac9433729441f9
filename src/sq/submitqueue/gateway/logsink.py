"""The `log` stage: the orchestrator's request-log entries, folded into the read models (§2.9).

A dead-lettered entry is reconciled by recording it anyway: the history keeps it, and the summary
takes it if it wins. Only an entry that cannot be decoded, or that names a request the gateway
never received, is left out of the summaries (and said so in the log).
"""

from __future__ import annotations

import asyncio

import pydantic
import structlog

from sq.platform.errs import Subject, UserError, attribute
from sq.platform.messagequeue import Delivery
from sq.submitqueue.core.messages import RequestLog
from sq.submitqueue.gateway.materializer import Materializer, UnknownRequestError
from sq.submitqueue.gateway.model import LogEntry

log = structlog.get_logger(__name__)


class MalformedLogError(UserError):
    """A `log` message that is not a usable RequestLog."""


def entry_of(delivery: Delivery) -> LogEntry:
    """The log entry a delivery carries, keyed by the message id its producer chose."""
    key = delivery.message_id
    failed_group = delivery.message.failed_group
    if failed_group:  # a dead letter's id is `<group>:<original id>`
        key = key.removeprefix(f"{failed_group}:")
    try:
        message = RequestLog.model_validate(delivery.json())
    except (pydantic.ValidationError, ValueError) as exc:
        raise MalformedLogError(f"not a RequestLog: {exc}") from exc
    value = message.status if message.type == "status" else message.event
    if not message.request_id or not message.queue or not value:
        raise MalformedLogError("a RequestLog needs request_id, queue and a status or event")
    return LogEntry(
        queue=message.queue,
        request_id=message.request_id,
        key=key,
        timestamp_ms=message.timestamp_ms,
        type=message.type,
        status=message.status if message.type == "status" else "",
        event=message.event if message.type == "event" else "",
        request_version=message.request_version,
        last_error=message.last_error,
        metadata=message.metadata,
    )


class LogController:
    name = "log"

    def __init__(self, materializer: Materializer) -> None:
        self.materializer = materializer

    async def process(self, delivery: Delivery) -> None:
        entry = entry_of(delivery)
        try:
            await asyncio.to_thread(self.materializer.persist, entry)
        except UnknownRequestError as exc:
            attribute(exc, Subject(type="request", id=entry.request_id))
            raise


class LogReconciler:
    """DLQ reconciler of `log`: records what it can, and retries (forever) only storage errors."""

    name = "log-dlq"

    def __init__(self, materializer: Materializer) -> None:
        self.materializer = materializer

    async def process(self, delivery: Delivery) -> None:
        try:
            entry = entry_of(delivery)
        except MalformedLogError as exc:
            log.warning(
                "log entry dropped: undecodable", message_id=delivery.message_id, error=str(exc)
            )
            return
        try:
            await asyncio.to_thread(self.materializer.persist, entry)
        except UnknownRequestError:
            log.warning(
                "log entry kept in history only: the gateway has no such request",
                request_id=entry.request_id,
            )
