"""queue controls: each queue's mode as the gateway last told it

Revision ID: 0005_orchestrator_queue_control
Revises: 0004_orchestrator
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_orchestrator_queue_control"
down_revision = "0004_orchestrator"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sq_queue_control",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("queue", name=op.f("pk_sq_queue_control")),
    )


def downgrade() -> None:
    op.drop_table("sq_queue_control")
