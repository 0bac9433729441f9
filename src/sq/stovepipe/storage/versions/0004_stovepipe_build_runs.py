"""stovepipe build runs: each build's owner, heartbeat and runner verdict, shared by instances

Revision ID: 0004_stovepipe_runs
Revises: 0003_stovepipe
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_stovepipe_runs"
down_revision = "0003_stovepipe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stovepipe_build_runs",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("build_id", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("heartbeat_ms", sa.BigInteger(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "build_id", name=op.f("pk_stovepipe_build_runs")),
    )
    op.create_index(
        op.f("ix_stovepipe_build_runs_owner_state"),
        "stovepipe_build_runs",
        ["owner", "state"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_stovepipe_build_runs_owner_state"), table_name="stovepipe_build_runs")
    op.drop_table("stovepipe_build_runs")
