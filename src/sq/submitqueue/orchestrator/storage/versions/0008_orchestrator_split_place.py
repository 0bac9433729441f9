"""split place: the batches a split's part follows (it keeps its failed batch's queue place)

Revision ID: 0008_orchestrator_split_place
Revises: 0007_orchestrator_batching
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_orchestrator_split_place"
down_revision = "0007_orchestrator_batching"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sq_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("place", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sq_batch", schema=None) as batch_op:
        batch_op.drop_column("place")
