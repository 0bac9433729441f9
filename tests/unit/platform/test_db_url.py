"""Database URLs: what `--db` and `mq.url` accept."""

from __future__ import annotations

import pytest

from sq.platform.db import DatabaseURLError, normalize_url


@pytest.mark.parametrize(
    "url", ["postgresql://x@[::1", "postgresql://x@host:abc/db", "mysql://h/d"]
)
def test_a_malformed_or_unsupported_url_is_a_database_url_error(url: str) -> None:
    """The first two were tracebacks (`ValueError: invalid literal for int()`, an unclosed
    IPv6 bracket) in `sq mq --db`."""
    with pytest.raises(DatabaseURLError):
        normalize_url(url)


def test_postgresql_means_psycopg_and_a_bare_path_means_sqlite() -> None:
    assert normalize_url("postgresql://x@h:5433/d").drivername == "postgresql+psycopg"
    assert normalize_url("/tmp/q.db").drivername == "sqlite"
