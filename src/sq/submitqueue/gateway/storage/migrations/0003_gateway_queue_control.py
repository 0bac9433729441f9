"""queue controls: each queue's mode (active, paused, draining)

Revision ID: 0003_gateway_queue_control
Revises: 0002_gateway_webhook_delivery
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_gateway_queue_control"
down_revision = "0002_gateway_webhook_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_queue_control",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("queue", name=op.f("pk_gateway_queue_control")),
    )


def downgrade() -> None:
    op.drop_table("gateway_queue_control")
