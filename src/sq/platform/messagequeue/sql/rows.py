"""Row helpers shared by the SQL store's modules."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from sq.platform.messagequeue.model import StoredMessage
from sq.platform.messagequeue.sql.schema import leases
from sq.platform.messagequeue.store import Fence
from sq.platform.messagequeue.values import positional


def lease_is(fence: Fence) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        leases.c.consumer_group == fence.consumer_group,
        leases.c.topic == fence.topic,
        leases.c.partition_key == fence.partition_key,
        leases.c.leased_by == fence.owner,
        leases.c.epoch == fence.epoch,
    )


_stored_message = positional(StoredMessage)


def stored_message(row: Sequence[Any]) -> StoredMessage:
    """A message from a row whose columns are `statements.MESSAGE_COLUMNS`, in that order."""
    (
        topic,
        partition_key,
        seq,
        message_id,
        payload,
        metadata,
        created_at_ms,
        published_at_ms,
        failed_at_ms,
        failure_count,
        last_error,
        original_topic,
        failure_detail,
        failed_group,
    ) = row[:14]
    return _stored_message(
        topic,
        partition_key,
        seq,
        message_id,
        payload,
        json.loads(metadata) if metadata else {},
        created_at_ms,
        published_at_ms,
        failed_at_ms,
        failure_count,
        last_error,
        original_topic,
        json.loads(failure_detail) if failure_detail else None,
        failed_group,
    )
