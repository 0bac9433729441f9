"""batching: when each request started waiting, kept for one build time (deep batching)

Revision ID: 0008_orchestrator_arrivals
Revises: 0007_orchestrator_batching
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_orchestrator_arrivals"
down_revision = "0007_orchestrator_batching"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sq_batch_arrival",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "request_id", name=op.f("pk_sq_batch_arrival")),
    )
    with op.batch_alter_table("sq_batch_arrival", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sq_batch_arrival_queue_at_ms"), ["queue", "at_ms"], unique=False
        )


def downgrade() -> None:
    op.drop_table("sq_batch_arrival")
