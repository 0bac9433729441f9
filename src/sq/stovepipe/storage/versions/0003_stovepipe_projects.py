"""stovepipe projects: project builds, per-project last green, analyses

Revision ID: 0003_stovepipe
Revises: 0002_stovepipe
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_stovepipe"
down_revision = "0002_stovepipe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stovepipe_builds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("project", sa.String(length=255), server_default="", nullable=False)
        )
    op.create_table(
        "stovepipe_project_heads",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("project", sa.String(length=255), nullable=False),
        sa.Column("last_green_uri", sa.String(length=255), server_default="", nullable=False),
        sa.Column(
            "last_green_request_id", sa.String(length=255), server_default="", nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "project", name=op.f("pk_stovepipe_project_heads")),
    )
    op.create_table(
        "stovepipe_analyses",
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.Column("uri", sa.String(length=255), nullable=False),
        sa.Column("planned", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "request_id", name=op.f("pk_stovepipe_analyses")),
    )


def downgrade() -> None:
    op.drop_table("stovepipe_analyses")
    op.drop_table("stovepipe_project_heads")
    with op.batch_alter_table("stovepipe_builds", schema=None) as batch_op:
        batch_op.drop_column("project")
