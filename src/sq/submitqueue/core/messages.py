"""SubmitQueue's queue payloads and topic keys (submitqueue-spec §1.2-§1.3)."""

from __future__ import annotations

import enum
import hashlib
from typing import Literal

from pydantic import Field

from sq.api.base import Payload
from sq.submitqueue.entity.batch import Priority

TOPIC_START = "start"
TOPIC_CANCEL = "cancel"
TOPIC_VALIDATE = "validate"
TOPIC_BATCH = "batch"
TOPIC_DEPENDENCY_ANALYSIS = "dependency-analysis"
TOPIC_SPECULATE = "speculate"
TOPIC_BUILD = "build"
TOPIC_BUILDSIGNAL = "buildsignal"
TOPIC_MERGE = "submitqueue-merge"
TOPIC_CONCLUDE = "conclude"
TOPIC_LOG = "log"
TOPIC_CONTROL = "queue-control"

LOG_PARTITIONS = 4
"""Partitions of `log` per queue. A partition is folded serially by one gateway, in windows of
up to its stage's batch size; a few per queue let that many gateways share a queue's request
log, while each still holds enough of a deep queue's entries to fold them a window at a time
(one per request left each partition about one message deep, so every entry cost a cycle and
a transaction of its own)."""


def log_partition(queue: str, request_id: str) -> str:
    """The `log` partition of a request's entries: always the same one, so they stay in order."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return f"{queue}#log-{int.from_bytes(digest) % LOG_PARTITIONS}"


class LandStrategy(enum.StrEnum):
    REBASE = "rebase"
    SQUASH_REBASE = "squash-rebase"
    MERGE = "merge"


class ChangeRef(Payload):
    uris: tuple[str, ...]


class LandRequest(Payload):
    id: str
    queue: str
    change: ChangeRef
    land_strategy: LandStrategy | None = None
    priority: Priority = Priority.NORMAL


class CancelRequest(Payload):
    id: str
    queue: str
    reason: str = ""


class EntityRef(Payload):
    """RequestID, BatchID and BuildID: an entity of a queue."""

    id: str
    queue: str = ""


class LogItem(Payload):
    """A later entry of the same request in one `RequestLog` message, keyed by its own id."""

    key: str
    timestamp_ms: int
    type: Literal["status", "event"] = "status"
    status: str = ""
    event: str = ""
    request_version: int = 0
    last_error: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)


class RequestLog(Payload):
    """One entry of a request's history; the gateway is the only writer of the request log.

    The first entry is keyed by the message id unless `key` names it. `more` carries the entries
    of the same request that one stage step logged right after it, in order, each with its own
    key, so that a step logs them in one message; the gateway records each entry exactly as if
    it had come alone (dedup per key, so a replay that bundles them differently adds nothing).
    """

    request_id: str
    queue: str
    timestamp_ms: int
    type: Literal["status", "event"] = "status"
    status: str = ""
    event: str = ""
    request_version: int = 0
    last_error: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
    key: str = ""
    more: tuple[LogItem, ...] = ()


class QueueControlChange(Payload):
    """An operator changed a queue's mode (entity/control.py); `version` orders the changes."""

    queue: str
    mode: str
    version: int
    reason: str = ""
    changed_at_ms: int = 0
