"""Stovepipe's entities (stovepipe-spec §1): queues, requests, builds and validation facts."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

RequestID = NewType("RequestID", str)

DEGREE_GREEN = 0.0
DEGREE_BROKEN = 1.0
WHOLE_REPO = ""
"""The `project` of a whole-repository fact; project facts name their project."""


class RequestIDError(ValueError):
    """A request id does not belong to the queue it was compared under."""


def request_id(queue: str, n: int) -> RequestID:
    return RequestID(f"{queue}/{n}")


MAX_REQUEST_NUMBER = 2**63 - 1
"""Request numbers are stored as 64-bit SQL integers: a larger one names no request."""


def request_number(queue: str, rid: str) -> int:
    prefix = f"{queue}/"
    tail = rid[len(prefix) :] if rid.startswith(prefix) else ""
    if not (tail.isascii() and tail.isdigit()):
        raise RequestIDError(f"request id {rid!r} does not match queue {queue!r}")
    number = int(tail)
    if number > MAX_REQUEST_NUMBER:
        raise RequestIDError(f"request id {rid!r}: numbers go up to {MAX_REQUEST_NUMBER}")
    return number


def compare_request_ids(queue: str, a: str, b: str) -> int:
    """-1 / 0 / 1 as `a` was ingested before / is / after `b` (numeric, §1.2)."""
    if a == b:
        return 0
    na, nb = request_number(queue, a), request_number(queue, b)
    return (na > nb) - (na < nb)


class RequestState(enum.StrEnum):
    ACCEPTED = "accepted"
    PROCESSING = "processing"
    SUPERSEDED = "superseded"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self not in (RequestState.ACCEPTED, RequestState.PROCESSING)

    @property
    def has_build_outcome(self) -> bool:
        return self in (RequestState.SUCCEEDED, RequestState.FAILED, RequestState.CANCELLED)


class BuildStrategy(enum.StrEnum):
    NONE = ""
    INCREMENTAL = "incremental_since_green"
    FULL = "full"


class FailureReason(enum.StrEnum):
    """Why a request ended `failed` (spec §8.4): kept so the fact policy can tell them apart."""

    NONE = ""
    BUILD_FAILED = "build_failed"
    BUILD_ERROR = "build_error"
    """The runner could not run the build (no tree, lost build): not a verdict on the code."""
    DEADLINE = "deadline"
    RECONCILED = "reconciled"
    """Forced by a DLQ reconciler (fail-closed)."""


class BuildStatus(enum.StrEnum):
    UNKNOWN = ""
    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (BuildStatus.SUCCEEDED, BuildStatus.FAILED, BuildStatus.CANCELLED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Queue:
    name: str
    last_green_uri: str = ""
    last_green_request_id: str = ""
    in_flight_count: int = 0
    latest_request_id: str = ""
    version: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    name: str
    max_concurrent: int = 1
    gate_wait_delay_ms: int = 5000
    max_validation_ms: int = 0
    """0 = no deadline (spec §8.5); otherwise a build still running after this fails closed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    id: str
    queue: str
    uri: str
    state: RequestState
    build_strategy: BuildStrategy = BuildStrategy.NONE
    base_uri: str = ""
    failure_reason: FailureReason = FailureReason.NONE
    created_at_ms: int = 0
    version: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    id: str
    queue: str
    request_id: str
    status: BuildStatus
    project: str = WHOLE_REPO
    """A project-scoped build (phase 2) names its project; the request's own build does not."""
    failure_reason: FailureReason = FailureReason.NONE
    """Written with a terminal `failed` status, so a redelivery stamps the same reason."""
    created_at_ms: int = 0
    version: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationFact:
    queue: str
    uri: str
    project: str = WHOLE_REPO
    degree: float
    request_id: str
    created_at_ms: int

    @property
    def is_green(self) -> bool:
        return self.degree == DEGREE_GREEN
