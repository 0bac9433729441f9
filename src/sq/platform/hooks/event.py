"""The hook event contract (platform-spec §5.1): one occurrence in a domain, told to the outside.

`id` is both the queue's dedup key and the receivers' idempotency key, and is never parsed. Ids
are built from escaped components (platform-spec §5.1 [GAP]): each part is percent-encoded, so a
`/` inside a subject id can never make a versioned id equal an unversioned one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sq.platform.errs import UserError
from sq.platform.messagequeue.model import MAX_KEY_LENGTH
from sq.platform.publish import intent_id

INT32_MAX = 2**31 - 1
_HASHED_PREFIX = 180


class MalformedHookEventError(UserError):
    """A hook event that breaks the contract; never retried."""


class HookEvent(BaseModel):
    """One hook event as it travels on the hook topic and in a webhook body.

    `payload` always holds the subject id under `subject`, plus transient facts recorded nowhere
    else; it is add-only and never an entity snapshot. `version` is the subject's version right
    after the transition, 0 when the transition was not a versioned write.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    timestamp_ms: int = Field(default=0, ge=0)
    version: int = Field(default=0, ge=0, le=INT32_MAX)
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("payload", mode="before")
    @classmethod
    def _null_payload_is_empty(cls, value: object) -> object:
        return {} if value is None else value

    @property
    def subject(self) -> str:
        """The subject id named by the payload; empty when the payload names none."""
        subject = self.payload.get("subject")
        return subject if isinstance(subject, str) else ""


def _bounded(text: str) -> str:
    # '#' is escaped inside every component, so a hashed id never equals an unhashed one.
    if len(text) <= MAX_KEY_LENGTH:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{text[:_HASHED_PREFIX]}#{digest}"


def event_id(source: str, type_: str, subject_id: str, version: int) -> str:
    """The id of a versioned transition: stable across redeliveries of the same cause."""
    return _bounded(intent_id(source, type_, subject_id, str(version)))


def unversioned_event_id(
    source: str, type_: str, subject_id: str, cause_message_id: str, ordinal: int
) -> str:
    """The id of an event with no version: the causing message's id and an ordinal among the
    same-type events that message caused."""
    return _bounded(intent_id(source, type_, subject_id, cause_message_id, str(ordinal)))


def validate(event: object) -> HookEvent:
    """Decode and check an event (a HookEvent, a mapping or JSON text); raise when malformed."""
    if event is None:
        raise MalformedHookEventError("malformed hook event: null")
    if isinstance(event, HookEvent):
        return event
    try:
        if isinstance(event, (str, bytes, bytearray)):
            return HookEvent.model_validate_json(event)
        return HookEvent.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(event)"
        raise MalformedHookEventError(f"malformed hook event: {where}: {first['msg']}") from exc


def new_event(
    source: str,
    type_: str,
    subject: str,
    *,
    timestamp_ms: int,
    version: int = 0,
    facts: dict[str, Any] | None = None,
    cause_message_id: str | None = None,
    ordinal: int = 0,
) -> HookEvent:
    """An event about `subject` with a derived id: versioned, or, given the causing message's id,
    unversioned. A redelivery of the same cause builds the same id, so republishing is safe."""
    id_ = (
        event_id(source, type_, subject, version)
        if cause_message_id is None
        else unversioned_event_id(source, type_, subject, cause_message_id, ordinal)
    )
    payload = {**(facts or {}), "subject": subject}
    return validate(
        {
            "id": id_,
            "source": source,
            "type": type_,
            "timestamp_ms": timestamp_ms,
            "version": version,
            "payload": payload,
        }
    )
