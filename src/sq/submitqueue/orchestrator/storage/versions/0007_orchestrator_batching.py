"""batching: requests waiting for a batch, and the parts each failed batch was split into

Revision ID: 0007_orchestrator_batching
Revises: 0006_orchestrator_priority
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_orchestrator_batching"
down_revision = "0006_orchestrator_priority"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sq_batch_wait",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "request_id", name=op.f("pk_sq_batch_wait")),
    )
    op.create_table(
        "sq_batch_split",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "batch_id", name=op.f("pk_sq_batch_split")),
    )


def downgrade() -> None:
    op.drop_table("sq_batch_split")
    op.drop_table("sq_batch_wait")
