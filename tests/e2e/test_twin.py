"""The twin benchmark in a tiny setting: a dozen small-team arrivals replayed through the real
stack (gateway, orchestrator and runway as `sq serve` processes) beside the simulator. Every good
arrival lands, every bad one is rejected, and the run ends with its RESULT line saying it ran the
process mode (ratios are the benchmark's business, not this test's). A run that cannot settle in
its timeout still ends, naming what is left and marking its RESULT as a lower bound."""

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
    r"speedup=(\S+) setting=small factor=120 mode=process unsettled=0$",
    re.MULTILINE,
)
EVERY = re.compile(r"good landed (\d+)/(\d+), bad rejected (\d+)/(\d+)")
CENSORED = re.compile(
    r"^RESULT .* unsettled=(\d+) lower_bound=twin_p50_vs_sim,twin_landed_vs_arrived$", re.MULTILINE
)
UNSETTLED = re.compile(r"^  c\d+: (.+)$", re.MULTILINE)
SMALL = ["--setting", "small", "--small-factor", "120"]
WINDOWS = ["--warmup-hours", "0.1", "--window-hours", "0.5", "--tail-hours", "0.1"]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(BENCH), *args]
    env = {k: v for k, v in os.environ.items() if k != "SQ_TEST_POSTGRES_URL"}
    if os.environ.get("SQ_TEST_POSTGRES_URL"):
        argv += ["--postgres-url", os.environ["SQ_TEST_POSTGRES_URL"]]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=380, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_twin_lands_every_good_arrival_and_prints_its_result() -> None:
    done = _bench(*SMALL, *WINDOWS)
    every = EVERY.search(done.stdout)
    assert every is not None, done.stdout
    landed, good, rejected, bad = map(int, every.groups())
    assert good > 0
    assert (landed, rejected) == (good, bad)
    result = RESULT.search(done.stdout)
    assert result is not None, done.stdout
    assert done.stdout.rstrip().splitlines()[-1] == result.group(0)
    assert all(float(x) > 0 for x in result.groups())


def test_twin_that_cannot_settle_in_time_names_what_is_left_and_bounds_its_result() -> None:
    # Arrivals span 0.7 h / 120 = 21 s: a 2-second timeout leaves most not even submitted.
    done = _bench(*SMALL, *WINDOWS, "--mode", "inprocess", "--timeout-s", "2")
    result = CENSORED.search(done.stdout)
    assert result is not None, done.stdout
    assert done.stdout.rstrip().splitlines()[-1] == result.group(0)
    statuses = UNSETTLED.findall(done.stdout)
    assert len(statuses) == int(result.group(1)) > 0
    assert "not submitted" in statuses
