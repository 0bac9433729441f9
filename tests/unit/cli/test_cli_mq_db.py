"""`sq mq --db URL` inspects a queue; pointed at a database that holds none, it refuses."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from sq.service.cli import cli


def test_a_database_with_no_queue_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """It used to run the queue's migrations there: nine `mq_*` tables in somebody's
    database, and an empty table printed as if it were the queue."""
    db = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    url = f"sqlite:///{db}"
    result = CliRunner().invoke(cli, ["mq", "--data-dir", str(tmp_path), "--db", url, "topics"])
    assert result.exit_code == 2
    assert result.output == f"error: no queue database at {url}\n"
    assert sa.inspect(engine).get_table_names() == ["invoices"]
    engine.dispose()
