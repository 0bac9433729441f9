"""gateway webhook deliveries: ids of incoming webhooks already acted on

Revision ID: 0002_gateway_webhook_delivery
Revises: 0001_gateway
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_gateway_webhook_delivery"
down_revision = "0001_gateway"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_webhook_delivery",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("received_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "delivery_id", name=op.f("pk_gateway_webhook_delivery")),
    )
    op.create_index(
        op.f("ix_gateway_webhook_delivery_received_at_ms"),
        "gateway_webhook_delivery",
        ["received_at_ms"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_gateway_webhook_delivery_received_at_ms"), table_name="gateway_webhook_delivery"
    )
    op.drop_table("gateway_webhook_delivery")
