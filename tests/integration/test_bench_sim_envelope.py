"""The envelope benchmark runs end to end: a table row per density and a RESULT line naming the
largest density kept up, with the dependencies measured there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "sim_envelope.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_quick_run_names_the_densest_point_kept_up() -> None:
    done = run("--quick", "--jobs", "1")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    rows = [line.split("|")[1:-1] for line in lines if line.startswith(("| 1.25 ", "| 5 "))]
    assert [row[0].strip() for row in rows] == ["1.25", "5"]
    kept = [float(row[0]) for row in rows if row[9].strip() == "yes"]
    head, *pairs = lines[-1].split()
    values = dict(pair.split("=", 1) for pair in pairs)
    assert head == "RESULT"
    assert set(values) == {"envelope_density", "envelope_dependencies", "points", "censored"}
    assert float(values["envelope_density"]) == max(kept, default=0.0)
    assert values["points"] == "2"
    # Denser conflicts give each change more dependencies when it joins.
    sparse, dense = (float(row[2]) for row in rows)
    assert 0 < sparse < dense


def test_a_density_no_conflict_chance_can_give_is_refused() -> None:
    done = run("--quick", "--density", "60")  # λ·T is 50 at 100 changes an hour

    assert done.returncode == 2
    assert "needs a conflict chance above 1" in done.stderr
