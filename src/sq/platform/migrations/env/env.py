"""Alembic environment: runs on the connection and schema set handed over by `upgrade`."""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
schema = config.attributes["schema_set"]

context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    version_table=schema.version_table,
    render_as_batch=True,
)
context.run_migrations()
