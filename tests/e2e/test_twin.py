"""The twin benchmark in a tiny setting: a dozen small-team arrivals replayed through the real
stack (gateway, orchestrator and runway as `sq serve` processes) beside the simulator. Every good
arrival lands, every bad one is rejected, and the run ends with its RESULT line saying it ran the
process mode (ratios are the benchmark's business, not this test's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "twin.py"
RESULT = re.compile(
    r"^RESULT twin_p50_vs_sim=(\S+) twin_builds_vs_sim=(\S+) twin_landed_vs_arrived=(\S+) "
    r"speedup=(\S+) setting=small factor=120 mode=process$",
    re.MULTILINE,
)
EVERY = re.compile(r"good landed (\d+)/(\d+), bad rejected (\d+)/(\d+)")


def test_twin_lands_every_good_arrival_and_prints_its_result() -> None:
    argv = [
        sys.executable, str(BENCH), "--setting", "small", "--small-factor", "120",
        "--warmup-hours", "0.1", "--window-hours", "0.5", "--tail-hours", "0.1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "SQ_TEST_POSTGRES_URL"}
    if os.environ.get("SQ_TEST_POSTGRES_URL"):
        argv += ["--postgres-url", os.environ["SQ_TEST_POSTGRES_URL"]]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=380, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    every = EVERY.search(done.stdout)
    assert every is not None, done.stdout
    landed, good, rejected, bad = map(int, every.groups())
    assert good > 0
    assert (landed, rejected) == (good, bad)
    result = RESULT.search(done.stdout)
    assert result is not None, done.stdout
    assert done.stdout.rstrip().splitlines()[-1] == result.group(0)
    assert all(float(x) > 0 for x in result.groups())
