"""stovepipe builds keep their failure reason

Revision ID: 0002_stovepipe
Revises: 0001_stovepipe
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_stovepipe"
down_revision = "0001_stovepipe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stovepipe_builds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failure_reason", sa.String(length=64), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("stovepipe_builds", schema=None) as batch_op:
        batch_op.drop_column("failure_reason")
