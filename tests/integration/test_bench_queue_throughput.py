"""The queue throughput benchmark runs end to end and ends with a parseable RESULT line.

Speed is not asserted here: the benchmark prints ratios, and doc/benchmarks.md records them.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "queue_throughput.py"
KEYS = (
    "sqlite_vs_raw",
    "pg_vs_raw",
    "pg_vs_procrastinate",
    "sqlite_serial_vs_raw",
    "pg_serial_vs_raw",
    "pg_serial_vs_procrastinate",
)


def parse_result(line: str) -> dict[str, float | None]:
    head, *pairs = line.split()
    assert head == "RESULT"
    values: dict[str, float | None] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        values[key] = None if text == "n/a" else float(text)
    return values


def test_quick_sqlite_run_prints_a_parseable_result_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SQ_TEST_POSTGRES_URL"}
    env["TMPDIR"] = str(tmp_path)  # the benchmark's SQLite files live (and are removed) here
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--messages",
            "200",
            "--runs",
            "2",
            "--ids",
            "random",
            "--sqlite-only",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    lines = done.stdout.strip().splitlines()
    result = parse_result(lines[-1])
    assert tuple(result) == KEYS
    for key in ("sqlite_vs_raw", "sqlite_serial_vs_raw"):
        ratio = result[key]
        assert ratio is not None and math.isfinite(ratio) and ratio > 0
    assert all(result[key] is None for key in KEYS if key.startswith("pg_"))
    assert any("publish, 1 caller" in line for line in lines)
    assert any("publish, 32 callers" in line for line in lines)
    assert any("publish_many, 100 msgs/call" in line for line in lines)
    assert "sqlite raw commits" in done.stderr
    assert "(run 2/2)" in done.stderr
    assert any("range of runs" in line for line in lines)
    assert "2 run(s) of each measurement; random message ids" in done.stdout
    assert list(tmp_path.iterdir()) == []
