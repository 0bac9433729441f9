"""The orchestrator's tables (submitqueue-spec §7). Every key leads with the queue."""

from __future__ import annotations

import sqlalchemy as sa

from sq.submitqueue.core.controls_sql import control_table
from sq.submitqueue.orchestrator.storage import outcomes

metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    }
)


def _key(name: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(255), primary_key=True)


request = sa.Table(
    "sq_request",
    metadata,
    _key("queue"),
    _key("id"),
    sa.Column("uris", sa.JSON, nullable=False),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("state", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("priority", sa.String(16), nullable=False, server_default="normal"),
)

cancel_intent = sa.Table(
    "sq_cancel_intent",
    metadata,
    _key("queue"),
    _key("request_id"),
    sa.Column("reason", sa.Text, nullable=False),
)
"""A cancel that overtook its request's start: honoured when the request is stored."""

change = sa.Table(
    "sq_change",
    metadata,
    _key("queue"),
    _key("uri"),
    _key("request_id"),
    sa.Column("details", sa.JSON, nullable=False),
    # Claims are read by request (scorers, every speculate run); the key leads with the URI.
    sa.Index(None, "queue", "request_id"),
)

batch = sa.Table(
    "sq_batch",
    metadata,
    _key("queue"),
    _key("id"),
    sa.Column("contains", sa.JSON, nullable=False),
    sa.Column("dependencies", sa.JSON, nullable=False),
    sa.Column("state", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("priority", sa.String(16), nullable=False, server_default="normal"),
    sa.Column("overtakes", sa.JSON, nullable=False, server_default="[]"),
    sa.Index(None, "queue", "state"),
)

request_batch = sa.Table(
    "sq_request_batch",
    metadata,
    _key("queue"),
    _key("request_id"),
    _key("batch_id"),
)

batch_wait = sa.Table(
    "sq_batch_wait",
    metadata,
    _key("queue"),
    _key("request_id"),
    sa.Column("since_ms", sa.BigInteger, nullable=False),
)
"""Validated requests waiting for a batch to fill (batching, doc/batching-queue.md); a row
leaves in the same transaction that creates the batch holding it."""

batch_arrival = sa.Table(
    "sq_batch_arrival",
    metadata,
    _key("queue"),
    _key("request_id"),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "queue", "at_ms"),
)
"""When each request arrived at the batch stage of a queue with deep batching (its first wait, or
its batch of its own while the queue was shallow), counted over one build time; forgotten once
older than the queue's window."""

batch_split = sa.Table(
    "sq_batch_split",
    metadata,
    _key("queue"),
    _key("batch_id"),
    sa.Column("parts", sa.JSON, nullable=False),
)
"""A failed batch's split: the batches its parts became, written with them in one transaction
so that a redelivered conclude finds them instead of splitting again."""

build = sa.Table(
    "sq_build",
    metadata,
    _key("queue"),
    _key("id"),
    sa.Column("batch_id", sa.String(255), nullable=False),
    sa.Column("path_id", sa.String(64), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("base", sa.String(64), nullable=False, server_default=""),
    sa.Column("assumed", sa.JSON, nullable=False, server_default="[]"),
)

build_run = sa.Table(
    "sq_build_run",
    metadata,
    _key("queue"),
    _key("build_id"),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("heartbeat_ms", sa.BigInteger, nullable=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False),
    # An owner renews all its unfinished runs in one statement.
    sa.Index(None, "owner", "state"),
)
"""The runner's side of a build (entity BuildRun): who runs it, its last state, its heartbeat."""

path_build = sa.Table(
    "sq_path_build",
    metadata,
    _key("queue"),
    sa.Column("path_id", sa.String(64), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("build_id", sa.String(255), nullable=False),
)

path_set = sa.Table(
    "sq_path_set",
    metadata,
    _key("queue"),
    _key("head"),
    sa.Column("paths", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

batch_outcome = outcomes.batch_outcome.to_metadata(metadata)
"""The history scorer's record of finished batches (storage/outcomes.py), migrated
with the orchestrator's tables so that a queue's learning survives restarts."""

queue_control = control_table("sq_queue_control", metadata)
"""Each queue's mode as the gateway last told it; read in the speculate run's one transaction."""
