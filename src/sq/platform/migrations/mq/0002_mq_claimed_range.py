"""first deliveries claimed as a range on the offset row

Revision ID: 0002_mq
Revises: 0001_mq
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_mq"
down_revision = "0001_mq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows claimed before this revision keep their mq_delivery rows; the range starts empty.
    with op.batch_alter_table("mq_offsets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("claimed_until_ms", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("mq_offsets", schema=None) as batch_op:
        batch_op.drop_column("claimed_until_ms")
        batch_op.drop_column("claimed_seq")
