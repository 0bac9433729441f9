"""Stovepipe's tables (spec §5); every primary key leads with the queue."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from sq.platform.migrations import SchemaSet

metadata = sa.MetaData(
    naming_convention={"pk": "pk_%(table_name)s", "ix": "ix_%(table_name)s_%(column_0_N_name)s"}
)

_NAME = 255

queues = sa.Table(
    "stovepipe_queues",
    metadata,
    sa.Column("name", sa.String(_NAME), primary_key=True),
    sa.Column("last_green_uri", sa.String(_NAME), nullable=False, server_default=""),
    sa.Column("last_green_request_id", sa.String(_NAME), nullable=False, server_default=""),
    sa.Column("in_flight_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("latest_request_id", sa.String(_NAME), nullable=False, server_default=""),
    sa.Column("version", sa.Integer, nullable=False),
)

requests = sa.Table(
    "stovepipe_requests",
    metadata,
    sa.Column("queue", sa.String(_NAME), primary_key=True),
    sa.Column("id", sa.String(_NAME), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("uri", sa.String(_NAME), nullable=False),
    sa.Column("state", sa.String(64), nullable=False),
    sa.Column("build_strategy", sa.String(64), nullable=False, server_default=""),
    sa.Column("base_uri", sa.String(_NAME), nullable=False, server_default=""),
    sa.Column("failure_reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index(None, "queue", "seq"),
)

request_uris = sa.Table(
    "stovepipe_request_uris",
    metadata,
    sa.Column("queue", sa.String(_NAME), primary_key=True),
    sa.Column("uri", sa.String(_NAME), primary_key=True),
    sa.Column("request_id", sa.String(_NAME), nullable=False),
)

builds = sa.Table(
    "stovepipe_builds",
    metadata,
    sa.Column("queue", sa.String(_NAME), primary_key=True),
    sa.Column("id", sa.String(_NAME), primary_key=True),
    sa.Column("request_id", sa.String(_NAME), nullable=False),
    sa.Column("status", sa.String(64), nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("failure_reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("project", sa.String(_NAME), nullable=False, server_default=""),
)

facts = sa.Table(
    "stovepipe_validation_facts",
    metadata,
    sa.Column("queue", sa.String(_NAME), primary_key=True),
    sa.Column("uri", sa.String(_NAME), primary_key=True),
    sa.Column("project", sa.String(_NAME), primary_key=True, server_default=""),
    sa.Column("degree", sa.Float, nullable=False),
    sa.Column("request_id", sa.String(_NAME), nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
)

build_runs = sa.Table(
    "stovepipe_build_runs",
    metadata,
    sa.Column("queue", sa.String(_NAME), primary_key=True),
    sa.Column("build_id", sa.String(_NAME), primary_key=True),
    sa.Column("owner", sa.String(_NAME), nullable=False),
    sa.Column("state", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("heartbeat_ms", sa.BigInteger, nullable=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(None, "owner", "state"),
)

project_heads = sa.Table(
    "stovepipe_project_heads",
    metadata,
    sa.Column("queue", sa.String(_NAME), primary_key=True),
    sa.Column("project", sa.String(_NAME), primary_key=True),
    sa.Column("last_green_uri", sa.String(_NAME), nullable=False, server_default=""),
    sa.Column("last_green_request_id", sa.String(_NAME), nullable=False, server_default=""),
    sa.Column("version", sa.Integer, nullable=False),
)

analyses = sa.Table(
    "stovepipe_analyses",
    metadata,
    sa.Column("queue", sa.String(_NAME), primary_key=True),
    sa.Column("request_id", sa.String(_NAME), primary_key=True),
    sa.Column("uri", sa.String(_NAME), nullable=False),
    sa.Column("planned", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)


def schema() -> SchemaSet:
    versions = Path(__file__).parent / "versions"
    return SchemaSet(name="stovepipe", directory=versions, metadata=metadata)
