"""the dedup index leads with the message id

Revision ID: 0003_mq
Revises: 0002_mq
"""

from __future__ import annotations

from alembic import op

revision = "0003_mq"
down_revision = "0002_mq"
branch_labels = None
depends_on = None

OLD = "uq_mq_messages_topic_partition_key_message_id"
NEW = "uq_mq_messages_topic_message_id_partition_key"


def upgrade() -> None:
    # Same key, new column order (see schema.py). SQLite cannot drop a table's UNIQUE constraint,
    # so there the table is rebuilt, once, under the migration lock.
    with op.batch_alter_table("mq_messages", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint(OLD, type_="unique")
        batch_op.create_unique_constraint(NEW, ["topic", "message_id", "partition_key"])


def downgrade() -> None:
    with op.batch_alter_table("mq_messages", schema=None, recreate="auto") as batch_op:
        batch_op.drop_constraint(NEW, type_="unique")
        batch_op.create_unique_constraint(OLD, ["topic", "partition_key", "message_id"])
