"""built base: the commit each build was made on and the batches it applied on it

Revision ID: 0003_orchestrator
Revises: 0002_orchestrator
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_orchestrator"
down_revision = "0002_orchestrator"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sq_build", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("base", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("assumed", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("sq_build", schema=None) as batch_op:
        batch_op.drop_column("assumed")
        batch_op.drop_column("base")
