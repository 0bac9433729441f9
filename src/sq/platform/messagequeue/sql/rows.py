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
    metadata, failure_detail = row[5], row[12]
    return _stored_message(
        *row[:5],  # topic, partition_key, seq, message_id, payload
        json.loads(metadata) if metadata else {},
        *row[6:12],  # created_at_ms ... original_topic
        json.loads(failure_detail) if failure_detail else None,
        row[13],  # failed_group
    )
