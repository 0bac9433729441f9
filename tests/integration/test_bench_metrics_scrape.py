"""The scrape-cost benchmark runs end to end and ends with a RESULT line (speed is not asserted:
doc/operating.md records the figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "metrics_scrape.py"


def test_a_small_run_prints_a_result() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "100,400", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("RESULT gateway_ms_per_10k_rows=")
