"""The envelope benchmark runs end to end: a table row per density and a RESULT line naming the
largest density kept up, with the dependencies measured there."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

from sim_envelope import Point, kept_up_to

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


def point(**changes: float | bool) -> Point:
    """A point that passes every bar, with `changes` applied."""
    base = Point(
        dependencies=3.0,
        landed_vs_arrived=0.97,
        oracle_landed_vs_arrived=0.99,
        landed_vs_oracle=0.98,
        p50=1.2,
        p95=2.0,
        builds=1.6,
        build_hours=0.7,
        censored=False,
        optimistic_p50=1.5,
        optimistic_censored=False,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_point_is_kept_up_only_within_every_bar() -> None:
    assert point().kept_up
    assert point(landed_vs_oracle=0.95, p50=1.5, builds=2.5).kept_up  # the bars are inclusive
    assert not point(landed_vs_oracle=0.94).kept_up  # falls behind the oracle
    assert not point(p50=1.51).kept_up
    assert not point(builds=2.51).kept_up
    assert not point(censored=True).kept_up  # its percentiles are lower bounds
    assert point(p95=9.0, landed_vs_arrived=0.5, build_hours=3.0).kept_up  # not bars


def test_the_envelope_ends_at_the_first_density_not_kept_up() -> None:
    passes, fails = point(dependencies=2.0), point(p50=2.0)

    assert kept_up_to([1.0, 2.0, 3.0], [passes, passes, fails]) == (2.0, 2.0)
    # A denser point passing after a failed one is noise, not envelope.
    assert kept_up_to([1.0, 2.0, 3.0], [passes, fails, passes]) == (1.0, 2.0)
    none = kept_up_to([1.0], [fails])
    assert none[0] == 0.0
    assert math.isnan(none[1])
