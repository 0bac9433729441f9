"""Input checks made before an id is minted, so nothing invalid is stored or published (§2.10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sq.platform import changeuri
from sq.platform.changeuri import ChangeKind
from sq.submitqueue.core.messages import LandStrategy
from sq.submitqueue.gateway.errors import InvalidRequestError, NotFoundError
from sq.submitqueue.gateway.model import split_request_id

MAX_QUEUE_BYTES = 235
MAX_ID_BYTES = 255
MAX_CHANGES = 50

_KINDS_BY_PROVIDER = {
    "git": frozenset({ChangeKind.GIT}),
    "github": frozenset({ChangeKind.GITHUB}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueInfo:
    """What the gateway knows of a configured queue."""

    name: str
    provider: str
    strategy: LandStrategy
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The queue's public configuration, as `GET /queues` shows it."""


def check_queue(queues: Mapping[str, QueueInfo], name: str, *, in_path: bool) -> QueueInfo:
    if not name or len(name.encode()) > MAX_QUEUE_BYTES:
        raise InvalidRequestError(f"queue must be 1-{MAX_QUEUE_BYTES} bytes")
    info = queues.get(name)
    if info is None:
        message = f"unknown queue {name!r}; configured: {', '.join(sorted(queues)) or 'none'}"
        if in_path:
            raise NotFoundError(message, code="queue_not_found")
        raise InvalidRequestError(message, code="unknown_queue")
    return info


def check_change_uris(queue: QueueInfo, uris: Sequence[str]) -> tuple[str, ...]:
    if not uris:
        raise InvalidRequestError("at least one change URI is required", code="no_changes")
    if len(uris) > MAX_CHANGES:
        raise InvalidRequestError(
            f"{len(uris)} change URIs; one request takes at most {MAX_CHANGES}",
            code="too_many_changes",
        )
    allowed = _KINDS_BY_PROVIDER.get(queue.provider)
    seen: set[str] = set()
    for uri in uris:
        try:
            parsed = changeuri.parse(uri)
        except changeuri.ChangeURIError as exc:
            raise InvalidRequestError(str(exc), code="invalid_change_uri") from None
        if allowed is not None and parsed.kind not in allowed:
            raise InvalidRequestError(
                f"queue {queue.name!r} uses the {queue.provider} provider, which cannot land "
                f"{parsed.kind} change URIs",
                code="unsupported_change_uri",
            )
        if uri in seen:
            raise InvalidRequestError(
                f"change URI {uri!r} is listed twice", code="duplicate_change_uri"
            )
        seen.add(uri)
    return tuple(uris)


def check_change_uri(uri: str) -> str:
    if not uri or len(uri.encode()) > MAX_ID_BYTES:
        raise InvalidRequestError(f"change URI must be 1-{MAX_ID_BYTES} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        # No canonical URI holds one, and PostgreSQL refuses NUL in a text parameter.
        raise InvalidRequestError("change URI must not contain control characters")
    return uri


def check_request_id(queues: Mapping[str, QueueInfo], request_id: str) -> tuple[str, int]:
    """The queue and number of `request_id`; NotFoundError when it cannot name a request."""
    if len(request_id.encode()) > MAX_ID_BYTES:
        raise InvalidRequestError(f"request id must be at most {MAX_ID_BYTES} bytes")
    parts = split_request_id(request_id)
    if parts is None:
        raise InvalidRequestError(
            f"{request_id!r} is not a request id (expected <queue>/<number>)",
            code="invalid_request_id",
        )
    if parts[0] not in queues:
        raise NotFoundError(f"no request {request_id} (unknown queue {parts[0]!r})")
    return parts
