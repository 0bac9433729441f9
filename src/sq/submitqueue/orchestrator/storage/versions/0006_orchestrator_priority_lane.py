"""priority lane: each request's and batch's lane, and the normal batches a high one overtakes

Revision ID: 0006_orchestrator_priority
Revises: 0005_orchestrator_queue_control
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_orchestrator_priority"
down_revision = "0005_orchestrator_queue_control"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sq_request", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.String(length=16), server_default="normal", nullable=False)
        )
    with op.batch_alter_table("sq_batch", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("priority", sa.String(length=16), server_default="normal", nullable=False)
        )
        batch_op.add_column(sa.Column("overtakes", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sq_batch", schema=None) as batch_op:
        batch_op.drop_column("overtakes")
        batch_op.drop_column("priority")
    with op.batch_alter_table("sq_request", schema=None) as batch_op:
        batch_op.drop_column("priority")
