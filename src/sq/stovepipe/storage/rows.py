"""Rows to entities."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sq.stovepipe.entity import (
    Build,
    BuildStatus,
    BuildStrategy,
    FailureReason,
    Queue,
    Request,
    RequestState,
    ValidationFact,
)
from sq.stovepipe.storage.base import columns
from sq.stovepipe.storage.schema import facts, queues


def queue_of(row: Mapping[Any, Any]) -> Queue:
    return Queue(**{k: row[k] for k in columns(queues)})


def request_of(row: Mapping[Any, Any]) -> Request:
    return Request(
        id=row["id"],
        queue=row["queue"],
        uri=row["uri"],
        state=RequestState(row["state"]),
        build_strategy=BuildStrategy(row["build_strategy"]),
        base_uri=row["base_uri"],
        failure_reason=FailureReason(row["failure_reason"]),
        created_at_ms=row["created_at_ms"],
        version=row["version"],
    )


def build_of(row: Mapping[Any, Any]) -> Build:
    return Build(
        id=row["id"],
        queue=row["queue"],
        request_id=row["request_id"],
        status=BuildStatus(row["status"]),
        project=row["project"],
        failure_reason=FailureReason(row["failure_reason"]),
        created_at_ms=row["created_at_ms"],
        version=row["version"],
    )


def fact_of(row: Mapping[Any, Any]) -> ValidationFact:
    return ValidationFact(**{k: row[k] for k in columns(facts)})
