"""The HTTP API's bodies (JSON), as OpenAPI publishes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sq.submitqueue.core.messages import LandStrategy
from sq.submitqueue.entity.batch import Priority
from sq.submitqueue.gateway.model import LogEntry, Summary
from sq.submitqueue.gateway.validation import MAX_CHANGES, QueueInfo


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LandBody(_Body):
    queue: str = Field(min_length=1, max_length=235)
    change_uris: list[str] = Field(
        description=f"An ordered stack of 1-{MAX_CHANGES} canonical change URIs, landed in order",
        # Documented, not enforced here: the service refuses with its own error codes.
        json_schema_extra={"minItems": 1, "maxItems": MAX_CHANGES, "uniqueItems": True},
    )
    strategy: LandStrategy | None = Field(
        default=None, description="How to land; default: the queue's configured strategy"
    )
    priority: Priority = Field(
        default=Priority.NORMAL,
        description="high: goes ahead of normal requests in speculation and landing order",
    )


class CancelBody(_Body):
    reason: str = Field(default="", max_length=1000)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class RequestSummary(BaseModel):
    id: str
    queue: str
    change_uris: list[str]
    strategy: str
    received_at_ms: int
    status: str
    status_at_ms: int
    last_error: str
    metadata: dict[str, str]

    @classmethod
    def of(cls, s: Summary) -> RequestSummary:
        return cls(
            id=s.request_id,
            queue=s.queue,
            change_uris=list(s.change_uris),
            strategy=s.land_strategy,
            received_at_ms=s.received_at_ms,
            status=s.status,
            status_at_ms=s.status_timestamp_ms,
            last_error=s.last_error,
            metadata=dict(s.metadata),
        )


class HistoryEvent(BaseModel):
    timestamp_ms: int
    type: Literal["status", "event"]
    status: str | None = None
    event: str | None = None
    last_error: str
    metadata: dict[str, str]

    @classmethod
    def of(cls, e: LogEntry) -> HistoryEvent:
        return cls(
            timestamp_ms=e.timestamp_ms,
            type=e.type,
            status=e.status if e.type == "status" else None,
            event=e.event if e.type == "event" else None,
            last_error=e.last_error,
            metadata=dict(e.metadata),
        )


class History(BaseModel):
    id: str
    events: list[HistoryEvent]


class ChangeRequests(BaseModel):
    change_uri: str
    requests: list[RequestSummary]


class ChangeHistories(BaseModel):
    change_uri: str
    histories: list[History]


class RequestPage(BaseModel):
    queue: str
    received_at_or_after_ms: int
    received_before_ms: int
    requests: list[RequestSummary]
    next_page_token: str | None = None


class Queue(BaseModel):
    name: str
    provider: str
    strategy: str
    settings: dict[str, Any]

    @classmethod
    def of(cls, q: QueueInfo) -> Queue:
        return cls(
            name=q.name, provider=q.provider, strategy=q.strategy.value, settings=dict(q.settings)
        )


class Queues(BaseModel):
    queues: list[Queue]
