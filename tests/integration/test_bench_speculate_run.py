"""The speculate-run benchmark runs end to end and ends with a parseable RESULT line.

Speed is not asserted here: the benchmark prints ratios, and doc/benchmarks.md records them.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "speculate_run.py"
KEYS = ("run_ms_d10", "run_ms_d100", "run_ms_d1000")


def test_quick_run_prints_a_parseable_result_line(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))  # its SQLite files live (and are removed) here
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    head, *pairs = lines[-1].split()
    assert head == "RESULT"
    values = dict(pair.split("=", 1) for pair in pairs)
    assert tuple(values) == KEYS
    assert all(math.isfinite(float(v)) and float(v) > 0 for v in values.values())
    assert any(line.split()[:1] == ["1000"] for line in lines)  # the table's deepest row
    assert "growth no worse than linear" in done.stdout
    assert list(tmp_path.iterdir()) == []
