"""speculation: claims indexed by request; batch outcomes for the history scorer

Revision ID: 0002_orchestrator
Revises: 0001_orchestrator
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_orchestrator"
down_revision = "0001_orchestrator"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sq_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sq_change_queue_request_id"), ["queue", "request_id"], unique=False
        )
    op.create_table(
        "batch_outcome",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=True),
        sa.Column("areas", sa.Text(), nullable=False),
        sa.Column("lines_changed", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_batch_outcome")),
        sa.UniqueConstraint("queue", "batch_id", name="uq_batch_outcome_queue_batch"),
    )


def downgrade() -> None:
    op.drop_table("batch_outcome")
    with op.batch_alter_table("sq_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sq_change_queue_request_id"))
