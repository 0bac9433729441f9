"""build runs: who runs each build and what its runner last reported

Revision ID: 0004_orchestrator
Revises: 0003_orchestrator
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_orchestrator"
down_revision = "0003_orchestrator"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sq_build_run",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("build_id", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("heartbeat_ms", sa.BigInteger(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "build_id", name=op.f("pk_sq_build_run")),
    )
    with op.batch_alter_table("sq_build_run", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sq_build_run_owner_state"), ["owner", "state"], unique=False
        )


def downgrade() -> None:
    op.drop_table("sq_build_run")
