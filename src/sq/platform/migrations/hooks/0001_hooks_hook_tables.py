"""hook delivery ledger and undeliverable events

Revision ID: 0001_hooks
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_hooks"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hook_delivered",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("delivered_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_hook_delivered")),
    )
    op.create_index(
        op.f("ix_hook_delivered_delivered_at_ms"),
        "hook_delivered",
        ["delivered_at_ms"],
        unique=False,
    )
    op.create_table(
        "hook_undeliverable",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failed_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("recorded_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_hook_undeliverable")),
    )
    op.create_index(
        op.f("ix_hook_undeliverable_recorded_at_ms"),
        "hook_undeliverable",
        ["recorded_at_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_hook_undeliverable_recorded_at_ms"), table_name="hook_undeliverable")
    op.drop_table("hook_undeliverable")
    op.drop_index(op.f("ix_hook_delivered_delivered_at_ms"), table_name="hook_delivered")
    op.drop_table("hook_delivered")
