"""List page tokens: opaque to clients, bound to the query that produced them (§2.6)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sq.submitqueue.gateway.errors import InvalidRequestError
from sq.submitqueue.gateway.model import MAX_BIGINT, Cursor


@dataclass(frozen=True, slots=True, kw_only=True)
class ListQuery:
    queue: str
    after_ms: int
    before_ms: int


def encode(query: ListQuery, cursor: Cursor) -> str:
    fields = [query.queue, query.after_ms, query.before_ms, cursor.received_at_ms, cursor.number]
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> tuple[ListQuery, Cursor]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        queue, after_ms, before_ms, at_ms, number = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidRequestError("page_token is not a token this server issued") from exc
    values = (after_ms, before_ms, at_ms, number)
    if not isinstance(queue, str) or not all(
        type(v) is int and 0 <= v <= MAX_BIGINT for v in values
    ):
        raise InvalidRequestError("page_token is not a token this server issued")
    query = ListQuery(queue=queue, after_ms=after_ms, before_ms=before_ms)
    return query, Cursor(received_at_ms=at_ms, number=number)
