"""The pipeline-overhead benchmark runs end to end and ends with a parseable RESULT line.

Speed is not asserted: the benchmark prints figures and ratios, and doc/benchmarks.md records them.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from support.databases import postgres_server_url

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pipeline_overhead.py"
KEYS = (
    "sqlite_landed_per_min",
    "pg_landed_per_min",
    "sqlite_vs_ceiling",
    "pg_vs_ceiling",
    "sqlite_deep_landed_per_min",
    "pg_deep_landed_per_min",
    "sqlite_deep_vs_shallow",
    "pg_deep_vs_shallow",
)


def parse_result(line: str) -> dict[str, float | None]:
    head, *pairs = line.split()
    assert head == "RESULT"
    values: dict[str, float | None] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        values[key] = None if text == "n/a" else float(text)
    return values


def run_bench(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[list[str], str]:
    env = {**env, "TMPDIR": str(tmp_path)}  # its data directories live (and are removed) here
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--requests",
            "4",
            "--queue-messages",
            "100",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []
    return done.stdout.strip().splitlines(), done.stderr


def positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_quick_sqlite_run_lands_everything_and_prints_a_result_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SQ_TEST_POSTGRES_URL"}
    lines, stderr = run_bench(tmp_path, env)
    result = parse_result(lines[-1])
    assert tuple(result) == KEYS
    assert positive(result["sqlite_landed_per_min"]) and positive(result["sqlite_vs_ceiling"])
    assert positive(result["sqlite_deep_landed_per_min"])
    assert positive(result["sqlite_deep_vs_shallow"])
    assert result["pg_landed_per_min"] is None and result["pg_vs_ceiling"] is None
    assert result["pg_deep_vs_shallow"] is None
    assert any(line.startswith("postgresql skipped:") for line in lines)
    rows = [line for line in lines if line.startswith("|") and "sqlite" in line]
    assert len(rows) == 2 and all("4/4" in row for row in rows)
    assert "sqlite deep: 4 requests through the stack" in stderr
    assert "dead letters 0" in "\n".join(lines)
    assert "sqlite: 4 requests through the stack" in stderr


@pytest.mark.slow
def test_quick_postgres_run_drops_its_databases(tmp_path: Path) -> None:
    # A prefix of this run's own: other runs of the bench on the same server (a neighbour's
    # test session) create and drop theirs meanwhile, and are none of this test's business.
    prefix = f"sqpipe_{uuid.uuid4().hex[:8]}"
    server = postgres_server_url()
    admin = sa.create_engine(sa.make_url(server).set(drivername="postgresql+psycopg"))

    def bench_databases() -> set[str]:
        with admin.connect() as conn:
            query = "SELECT datname FROM pg_database WHERE starts_with(datname, :prefix)"
            return set(conn.execute(sa.text(query), {"prefix": f"{prefix}_"}).scalars())

    try:
        env = {**os.environ, "SQ_TEST_POSTGRES_URL": server}
        lines, _ = run_bench(tmp_path, env, "--database-prefix", prefix)
        result = parse_result(lines[-1])
        assert positive(result["pg_landed_per_min"]) and positive(result["pg_vs_ceiling"])
        assert positive(result["pg_deep_vs_shallow"])
        rows = [line for line in lines if line.startswith("|") and "postgresql" in line]
        assert len(rows) == 2 and all("4/4" in row for row in rows)
        assert bench_databases() == set()
    finally:
        admin.dispose()
