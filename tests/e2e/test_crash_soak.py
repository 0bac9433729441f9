"""The crash soak's short version: three SIGKILLs of separate `sq serve` processes on SQLite, then
nothing lost, nothing landed twice, nothing failed landed, and every landed tree builds green."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "crash_soak.py"


def test_three_kills_lose_nothing_and_land_only_green_trees(tmp_path: Path) -> None:
    seed = os.environ.get("SQ_CRASH_SEED", "")
    done = subprocess.run(
        [sys.executable, str(BENCH), "--kills", "3", "--initial", "3", "--settle", "300",
         *(["--seed", seed] if seed else [])],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    values = dict(pair.split("=", 1) for pair in last.split()[1:])
    assert last.startswith("RESULT "), done.stdout
    assert values["kills"] == "3"
    assert int(values["requests"]) == 6
    failures = {k: values[k] for k in ("lost", "double_landed", "failed_landed", "red_trees")}
    assert failures == dict.fromkeys(failures, "0"), done.stdout
