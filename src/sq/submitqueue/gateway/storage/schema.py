"""The gateway's tables. Nothing but `sq.submitqueue.gateway.storage` reads or writes them."""

from __future__ import annotations

import sqlalchemy as sa

from sq.submitqueue.core.controls_sql import control_table

metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    }
)

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid alias

request_summary = sa.Table(
    "gateway_request_summary",
    metadata,
    sa.Column("queue", sa.String(235), primary_key=True),
    sa.Column("request_id", sa.String(255), primary_key=True),
    sa.Column("number", sa.BigInteger, nullable=False),
    sa.Column("change_uris", sa.JSON, nullable=False),
    sa.Column("land_strategy", sa.String(32), nullable=False),
    sa.Column("received_at_ms", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("request_version", sa.BigInteger, nullable=False),
    sa.Column("status_timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Index(None, "queue", "received_at_ms", "number"),
)

change_request = sa.Table(
    "gateway_change_request",
    metadata,
    sa.Column("queue", sa.String(235), primary_key=True),
    sa.Column("change_uri", sa.String(255), primary_key=True),
    sa.Column("number", sa.BigInteger, primary_key=True),
    sa.Column("request_id", sa.String(255), nullable=False),
    sa.Column("received_at_ms", sa.BigInteger, nullable=False),
)

request_log = sa.Table(
    "gateway_request_log",
    metadata,
    sa.Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    sa.Column("queue", sa.String(235), nullable=False),
    sa.Column("request_id", sa.String(255), nullable=False),
    sa.Column("entry_key", sa.String(255), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("request_version", sa.BigInteger, nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.UniqueConstraint("queue", "request_id", "entry_key"),
    sa.Index(None, "queue", "request_id", "timestamp_ms", "id"),
)

webhook_delivery = sa.Table(
    "gateway_webhook_delivery",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("delivery_id", sa.String(255), primary_key=True),
    sa.Column("received_at_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "received_at_ms"),
)
"""Deliveries of incoming webhooks already acted on (GitHub's `X-GitHub-Delivery`): a replay of
one is refused."""


queue_control = control_table("gateway_queue_control", metadata)
"""Each queue's mode as the operator set it (entity/control.py)."""

TABLES = (request_summary, change_request, request_log, webhook_delivery, queue_control)
