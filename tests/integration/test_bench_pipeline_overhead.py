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
sys.path.insert(0, str(BENCH.parent))
import pipeline_overhead  # noqa: E402
from pipeline_stack import Outcome  # noqa: E402

KEYS = (
    "sqlite_landed_per_min",
    "pg_landed_per_min",
    "sqlite_vs_ceiling",
    "pg_vs_ceiling",
    "sqlite_deep_landed_per_min",
    "pg_deep_landed_per_min",
    "sqlite_deep_vs_shallow",
    "pg_deep_vs_shallow",
    "sqlite_cpu_ms_per_landed",
    "pg_cpu_ms_per_landed",
    "sqlite_deep_cpu_ms_per_landed",
    "pg_deep_cpu_ms_per_landed",
    "pairs",
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
    assert positive(result["sqlite_cpu_ms_per_landed"])
    assert positive(result["sqlite_deep_cpu_ms_per_landed"])
    assert result["pg_landed_per_min"] is None and result["pg_vs_ceiling"] is None
    assert result["pg_deep_vs_shallow"] is None
    assert any(line.startswith("postgresql skipped:") for line in lines)
    rows = [line for line in lines if line.startswith("|") and "sqlite" in line]
    assert len(rows) == 2 and all("4/4" in row for row in rows)
    assert "sqlite pair 1/1 deep: 4 requests through the stack" in stderr
    assert "dead letters 0" in "\n".join(lines)
    assert "sqlite pair 1/1: 4 requests through the stack" in stderr
    assert result["pairs"] == 1


@pytest.mark.slow
def test_pairs_alternate_shallow_and_deep_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SQ_TEST_POSTGRES_URL"}
    lines, stderr = run_bench(tmp_path, env, "--pairs", "2", "--requests", "2", "--deep", "2")
    runs = [line.split("] ", 1)[1] for line in stderr.splitlines() if "through the stack" in line]
    assert runs == [
        "sqlite pair 1/2: 2 requests through the stack",
        "sqlite pair 1/2 deep: 2 requests through the stack",
        "sqlite pair 2/2: 2 requests through the stack",
        "sqlite pair 2/2 deep: 2 requests through the stack",
    ]
    rows = [line for line in lines if line.startswith("|") and "sqlite" in line]
    assert len(rows) == 4 and all("2/2" in row for row in rows)
    assert parse_result(lines[-1])["pairs"] == 2


def run_of(landed_per_min: float, vs_ceiling: float = 0.1, cpu_s: float = 6.0) -> Outcome:
    """An outcome of `landed_per_min` whose vs ceiling is `vs_ceiling` (60 landed in a minute
    scaled; one message per landing, so the ceiling is the queue rate x 60), and which cost
    `cpu_s` (100 ms per landed request by default)."""
    return Outcome(
        backend="sqlite",
        requests=60,
        landed=60,
        wall_s=60 * 60 / landed_per_min,
        latencies_ms=[1.0],
        messages={"t": 60},
        dead_letters=0,
        queue_rates={1: landed_per_min / vs_ceiling / 60},
        cpu_s=cpu_s,
    )


def test_the_result_is_the_median_of_the_per_pair_ratios() -> None:
    # Shallow 100, 200, 400 and deep 80, 100, 380: the pairs' ratios are 0.8, 0.5 and 0.95, so
    # their median is 0.8, where the ratio of the medians (100 / 200) would say 0.5.
    pairs = [
        pipeline_overhead.Pair(n, run_of(s, v, c), run_of(d, cpu_s=2 * c))
        for n, (s, d, v, c) in enumerate(
            [(100, 80, 0.2, 3.0), (200, 100, 0.1, 9.0), (400, 380, 0.3, 6.0)], 1
        )
    ]
    result = parse_result(pipeline_overhead.result_line({"sqlite": pairs}, 3))
    assert tuple(result) == KEYS
    assert result["sqlite_deep_vs_shallow"] == 0.8
    assert result["sqlite_landed_per_min"] == 200.0
    assert result["sqlite_deep_landed_per_min"] == 100.0
    assert result["sqlite_vs_ceiling"] == 0.2
    assert result["sqlite_cpu_ms_per_landed"] == 100.0  # 3, 9 and 6 s for 60 landed
    assert result["sqlite_deep_cpu_ms_per_landed"] == 200.0
    assert result["pg_deep_vs_shallow"] is None and result["pairs"] == 3


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
        assert positive(result["pg_cpu_ms_per_landed"])
        rows = [line for line in lines if line.startswith("|") and "postgresql" in line]
        assert len(rows) == 2 and all("4/4" in row for row in rows)
        assert bench_databases() == set()
    finally:
        admin.dispose()
