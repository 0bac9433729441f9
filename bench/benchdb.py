"""Throwaway PostgreSQL databases for the benchmarks: created with a unique name, dropped after."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import sqlalchemy as sa


@contextlib.contextmanager
def fresh_postgres(server_url: str, prefix: str = "sqbench") -> Iterator[sa.URL]:
    """Create a uniquely named database on the server; drop it (forcefully) afterwards."""
    server = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def fresh_postgres_url(server_url: str, prefix: str = "sqbench") -> Iterator[str]:
    """`fresh_postgres`, as a URL string with its password."""
    with fresh_postgres(server_url, prefix) as url:
        yield url.render_as_string(hide_password=False)
