"""The discovery-cost benchmark runs end to end, settles everything, and ends with a RESULT line.

Speed is not asserted here: doc/platform.md records the figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "discovery_cost.py"


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SQ_TEST_POSTGRES_URL"}
    env["TMPDIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_a_small_run_settles_every_partition_and_prints_a_result(tmp_path: Path) -> None:
    done = _run("--sizes", "2500", "--repeat", "3", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert "| sqlite | 2,500 |" in done.stdout
    # 2,500 partitions at 1,000 per collection: three collections.
    assert lines[-3].rstrip().endswith("| 3 |")
    head, *pairs = lines[-1].split()
    assert head == "RESULT"
    values = dict(pair.split("=") for pair in pairs)
    assert values["partitions"] == "2500"
    assert float(values["sqlite_before_ms"]) > 0 and float(values["sqlite_after_ms"]) > 0
    assert list(tmp_path.iterdir()) == []


def test_bad_sizes_exit_2_with_one_line(tmp_path: Path) -> None:
    done = _run("--sizes", "ten", tmp_path=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "--sizes" in done.stderr
