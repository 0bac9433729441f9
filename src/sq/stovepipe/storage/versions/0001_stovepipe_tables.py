"""stovepipe tables

Revision ID: 0001_stovepipe
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_stovepipe"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stovepipe_builds",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "id", name=op.f("pk_stovepipe_builds")),
    )
    op.create_table(
        "stovepipe_queues",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("last_green_uri", sa.String(length=255), server_default="", nullable=False),
        sa.Column(
            "last_green_request_id", sa.String(length=255), server_default="", nullable=False
        ),
        sa.Column("in_flight_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("latest_request_id", sa.String(length=255), server_default="", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_stovepipe_queues")),
    )
    op.create_table(
        "stovepipe_request_uris",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("uri", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("queue", "uri", name=op.f("pk_stovepipe_request_uris")),
    )
    op.create_table(
        "stovepipe_requests",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("uri", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("build_strategy", sa.String(length=64), server_default="", nullable=False),
        sa.Column("base_uri", sa.String(length=255), server_default="", nullable=False),
        sa.Column("failure_reason", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "id", name=op.f("pk_stovepipe_requests")),
    )
    with op.batch_alter_table("stovepipe_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stovepipe_requests_queue_seq"), ["queue", "seq"], unique=False
        )

    op.create_table(
        "stovepipe_validation_facts",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("uri", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=255), server_default="", nullable=False),
        sa.Column("degree", sa.Float(), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "queue", "uri", "project", name=op.f("pk_stovepipe_validation_facts")
        ),
    )


def downgrade() -> None:
    op.drop_table("stovepipe_validation_facts")
    with op.batch_alter_table("stovepipe_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stovepipe_requests_queue_seq"))

    op.drop_table("stovepipe_requests")
    op.drop_table("stovepipe_request_uris")
    op.drop_table("stovepipe_queues")
    op.drop_table("stovepipe_builds")
