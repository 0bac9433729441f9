"""settled partitions and held leases get partial indexes, so discovery skips finished ones

Revision ID: 0004_mq
Revises: 0003_mq
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_mq"
down_revision = "0003_mq"
branch_labels = None
depends_on = None

UNSETTLED = sa.text("last_seq > settled_seq")
HELD = sa.text("leased_by <> ''")


def upgrade() -> None:
    # Existing partitions start unsettled; the next collection settles the finished ones.
    with op.batch_alter_table("mq_partitions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settled_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_index(
        "ix_mq_partitions_unsettled",
        "mq_partitions",
        ["topic", "partition_key"],
        sqlite_where=UNSETTLED,
        postgresql_where=UNSETTLED,
    )
    op.create_index(
        "ix_mq_leases_held",
        "mq_leases",
        ["consumer_group", "topic"],
        sqlite_where=HELD,
        postgresql_where=HELD,
    )


def downgrade() -> None:
    op.drop_index("ix_mq_leases_held", table_name="mq_leases")
    op.drop_index("ix_mq_partitions_unsettled", table_name="mq_partitions")
    with op.batch_alter_table("mq_partitions", schema=None) as batch_op:
        batch_op.drop_column("settled_seq")
