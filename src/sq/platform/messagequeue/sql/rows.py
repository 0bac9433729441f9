"""Row helpers shared by the SQL store's modules."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from sq.platform.messagequeue.model import StoredMessage
from sq.platform.messagequeue.sql.schema import delivery, leases, messages
from sq.platform.messagequeue.store import Fence


def lease_is(fence: Fence) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        leases.c.consumer_group == fence.consumer_group,
        leases.c.topic == fence.topic,
        leases.c.partition_key == fence.partition_key,
        leases.c.leased_by == fence.owner,
        leases.c.epoch == fence.epoch,
    )


def delivery_is(fence: Fence, seq: int) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        delivery.c.consumer_group == fence.consumer_group,
        delivery.c.topic == fence.topic,
        delivery.c.partition_key == fence.partition_key,
        delivery.c.seq == seq,
    )


def partition_rows(fence: Fence) -> tuple[sa.ColumnElement[bool], ...]:
    return (messages.c.topic == fence.topic, messages.c.partition_key == fence.partition_key)


def joined_state(fence: Fence) -> sa.ColumnElement[bool]:
    return sa.and_(
        delivery.c.consumer_group == fence.consumer_group,
        delivery.c.topic == messages.c.topic,
        delivery.c.partition_key == messages.c.partition_key,
        delivery.c.seq == messages.c.seq,
    )


def stored_message(row: Any) -> StoredMessage:
    return StoredMessage(
        topic=row.topic,
        partition_key=row.partition_key,
        seq=row.seq,
        message_id=row.message_id,
        payload=row.payload,
        metadata=json.loads(row.metadata) if row.metadata else {},
        created_at_ms=row.created_at_ms,
        published_at_ms=row.published_at_ms,
        failed_at_ms=row.failed_at_ms,
        failure_count=row.failure_count,
        last_error=row.last_error,
        original_topic=row.original_topic,
        failure_detail=json.loads(row.failure_detail) if row.failure_detail else None,
        failed_group=row.failed_group,
    )
