"""Values of the message queue: what is published, what is delivered, and how it is consumed."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from sq.platform.errs import Failure, UserError

TOPIC_NAME = re.compile(r"^[a-z0-9_-]{1,255}$")
MAX_KEY_LENGTH = 255
DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20
DLQ_SUFFIX = "_dlq"


class InvalidMessageError(UserError):
    """A publish was refused before anything was stored."""


class LeaseLostError(Exception):
    """This subscriber no longer owns the partition (its lease expired or was taken over)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    """One message to publish. `(topic, partition_key, message_id)` is its dedup key."""

    topic: str
    partition_key: str
    message_id: str
    payload: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    published_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMessage:
    topic: str
    partition_key: str
    seq: int
    message_id: str
    payload: str
    metadata: Mapping[str, str]
    created_at_ms: int
    published_at_ms: int
    failed_at_ms: int = 0
    failure_count: int = 0
    last_error: str = ""
    original_topic: str = ""
    failure_detail: Mapping[str, Any] | None = None
    failed_group: str = ""

    @property
    def failure(self) -> Failure | None:
        if not self.failed_at_ms:
            return None
        return Failure.decode(self.last_error, self.failure_detail)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Attempts and exponential backoff of retryable failures (platform-spec §7.2-3)."""

    max_attempts: int = 3
    initial_backoff_ms: int = 1000
    max_backoff_ms: int = 30_000
    multiplier: float = 2.0

    def backoff_ms(self, attempt: int) -> int:
        delay = self.initial_backoff_ms * self.multiplier ** max(0, attempt - 1)
        return int(min(delay, self.max_backoff_ms))


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionConfig:
    """How one consumer group reads one topic. Defaults follow platform-spec §1.4."""

    consumer_group: str
    batch_size: int = 10
    poll_interval_ms: int = 500
    discovery_interval_ms: int = 1000
    visibility_timeout_ms: int = 60_000
    lease_duration_ms: int = 30_000
    lease_renewal_interval_ms: int = 10_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    dead_letter: bool = True
    gc_interval_ms: int = 10_000
    retention_ms: int = 600_000

    def __post_init__(self) -> None:
        problems = []
        if not TOPIC_NAME.match(self.consumer_group):
            problems.append(
                f"consumer group {self.consumer_group!r} must match [a-z0-9_-]{{1,255}}"
            )
        if self.batch_size < 1:
            problems.append("batch_size must be at least 1")
        if self.retry.max_attempts < 1:
            problems.append("retry.max_attempts must be at least 1")
        if self.lease_renewal_interval_ms >= self.lease_duration_ms:
            problems.append("lease_renewal_interval_ms must be shorter than lease_duration_ms")
        if min(self.poll_interval_ms, self.discovery_interval_ms, self.visibility_timeout_ms) <= 0:
            problems.append("intervals and the visibility timeout must be positive")
        if problems:
            raise ValueError("; ".join(problems))

    def for_dlq(self) -> SubscriptionConfig:
        """A DLQ reader: its own group, retries (almost) forever, no DLQ of its own."""
        from dataclasses import replace

        return replace(
            self,
            consumer_group=f"{self.consumer_group}-dlq",
            dead_letter=False,
            retry=replace(self.retry, max_attempts=1000),
        )


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


_VALID_TOPICS: set[str] = set()
"""Topic names seen valid: a service publishes to a handful, many times each."""


def validate_topic(topic: str) -> None:
    if type(topic) is str and topic in _VALID_TOPICS:
        return
    if not isinstance(topic, str) or not TOPIC_NAME.match(topic):
        raise InvalidMessageError(f"invalid topic name {topic!r}: use 1-255 of [a-z0-9_-]")
    if len(_VALID_TOPICS) < MAX_REMEMBERED_TOPICS:
        _VALID_TOPICS.add(topic)


MAX_REMEMBERED_TOPICS = 1024


def encode_payload(payload: Any, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> str:
    """Payloads are JSON text. Accepts JSON text or bytes (validated), or a JSON-able value."""
    if type(payload) is str:  # the common case, first
        _require_json(payload)
        text = payload
    elif hasattr(payload, "model_dump_json"):
        text = str(payload.model_dump_json())
    elif isinstance(payload, (bytes, bytearray)):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessageError("payload is not UTF-8 JSON") from exc
        _require_json(text)
    elif isinstance(payload, str):
        _require_json(payload)
        text = payload
    else:
        try:
            text = json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidMessageError(f"payload is not JSON-serializable: {exc}") from exc
    # A character is at most 4 bytes of UTF-8: most payloads need no encoding to be measured.
    if len(text) * 4 > max_bytes:
        size = len(text.encode("utf-8"))
        if size > max_bytes:
            raise InvalidMessageError(f"payload is {size} bytes; the limit is {max_bytes}")
    return text


def _require_json(text: str) -> None:
    # pydantic-core's parser accepts what json.loads accepts (NaN and Infinity too) in a tenth of
    # its time; this runs for every message published.
    try:
        pydantic_core.from_json(text)
    except ValueError as exc:
        raise InvalidMessageError(f"payload is not valid JSON: {exc}") from exc


def validate_message(message: OutgoingMessage, max_payload_bytes: int) -> None:
    validate_topic(message.topic)
    validate_keys(message)
    if len(message.payload.encode("utf-8")) > max_payload_bytes:
        raise InvalidMessageError(f"payload exceeds {max_payload_bytes} bytes")


def validate_keys(message: OutgoingMessage) -> None:
    """The partition key, the id and the metadata (the topic and payload are checked apart)."""
    _require_key("partition key", message.partition_key)
    _require_key("message id", message.message_id)
    metadata = message.metadata
    if type(metadata) is dict and not metadata:  # the common case
        return
    if not isinstance(metadata, Mapping):
        raise InvalidMessageError("metadata must be a mapping of strings to strings")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidMessageError(f"metadata key {key!r} must be a string of 1-255 characters")
        if not isinstance(value, str):
            raise InvalidMessageError(f"metadata value of {key!r} must be a string")


def _require_key(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidMessageError(f"{name} must be a non-empty string")
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidMessageError(f"{name} is {len(value)} characters; the limit is 255")
