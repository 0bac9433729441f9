"""Determinism, the report and `sq sim`."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from sq.service.cli import sim as sim_cli
from sq.service.cli.sim import sim
from sq.sim import report
from sq.sim.runner import (
    Scenario,
    default_grid,
    run_grid,
    run_scenario,
    small_team_scenario,
)
from sq.sim.workload import ConflictKind, FailureModel


def small(window_hours: float = 6) -> Scenario:
    return dataclasses.replace(small_team_scenario(0.1, window_hours=window_hours), headline=True)


def without_timing(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_the_same_seed_gives_the_same_results() -> None:
    first = report.csv_rows([run_scenario(small(), seed=5)])
    second = report.csv_rows([run_scenario(small(), seed=5)])
    other = report.csv_rows([run_scenario(small(), seed=6)])

    assert without_timing(first) == without_timing(second)
    assert without_timing(first) != without_timing(other)


def test_the_result_line_names_the_headline_ratios() -> None:
    result = run_scenario(small(), seed=5)
    ours, oracle = result.row("ours"), result.row("oracle")
    assert ours is not None
    assert oracle is not None

    line = report.result_line([result])

    assert line.startswith("RESULT ours_p50_vs_oracle=")
    assert f"ours_p50_vs_oracle={ours.p50_min / oracle.p50_min:.2f}" in line
    assert f"ours_p95_vs_oracle={ours.p95_min / oracle.p95_min:.2f}" in line
    assert f"ours_builds_per_landed={ours.builds_per_landed:.2f}" in line
    assert f"ours_landed_vs_arrived={ours.landed_vs_arrived:.2f}" in line
    assert [k.split("=")[0] for k in line.split()[1:]] == [
        "ours_p50_vs_oracle",
        "ours_p95_vs_oracle",
        "ours_builds_per_landed",
        "ours_landed_vs_arrived",
        "optimistic_p50_vs_oracle",
        "serial_p50_vs_oracle",
        "bisect_p50_vs_oracle",
        "censored",
    ]


def test_the_grid_has_the_paper_and_small_team_settings_at_every_p() -> None:
    grid = default_grid()
    paper = [s for s in grid if s.workload.rate_per_hour == 500]
    team = [s for s in grid if s.workload.rate_per_hour == 20 and s.workload.flaky_rate == 0]

    assert [s.workload.failure_probability for s in paper] == [0.05, 0.1, 0.2]
    assert {(s.capacity, s.workload.build_minutes) for s in paper} == {(500, 30)}
    assert {0.05, 0.1, 0.2} <= {s.workload.failure_probability for s in team}
    assert {s.capacity for s in team} == {4}
    assert [s.name for s in grid if s.headline] == [paper[1].name]
    assert {s.workload.failure_model for s in grid} == set(FailureModel)
    assert all(s.workload.drain_hours >= 2 * s.workload.build_minutes / 60 for s in grid)
    pairwise = [s for s in default_grid(0.5) if s.workload.conflict.kind is ConflictKind.PAIRWISE]
    assert {s.workload.conflict.probability for s in pairwise} == {0.5}


def test_a_paper_window_within_its_warm_up_is_refused_in_one_line() -> None:
    """It measured nothing and divided by zero inside a worker process."""
    result = CliRunner().invoke(sim, ["--paper-window-hours", "2"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --paper-window-hours, --paper-tail-hours: the measured window must end after"
        " its warm-up: window 2 h, warm-up 2 h"
    ]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--rate", "nan"], "arrival rate must be above 0"),
        (["--rate", "0"], "arrival rate must be above 0"),
        (["--rate", "10", "--capacity", "0"], "--capacity must be at least 1"),
        (["--rate", "10", "--build-minutes", "inf"], "build time must be above 0"),
        (["--rate", "10", "--failure-probability", "1.5"], "failure probability must be within"),
        (["--rate", "10", "--failure-probability", "nan"], "failure probability must be within"),
        (["--rate", "10", "--flaky-rate", "1"], "flaky rate must be within [0, 1)"),
        (["--rate", "10", "--conflict-probability", "-0.1"], "conflict probability must be"),
        (["--conflict-probability", "2"], "conflict probability must be within [0, 1]"),
        (["--rate", "10", "--folders", "0"], "folders must be at least 1"),
        (["--rate", "10", "--tail-hours", "-1"], "the tail must be a finite number of hours"),
        (["--rate", "10", "--warmup-hours", "-1"], "the warm-up must be a finite number"),
        (["--rate", "10", "--window-hours", "1"], "must end after its warm-up"),
        (["--rate", "1e9"], "at most 200,000 are simulated"),
        (["--paper-tail-hours", "-1"], "the tail must be a finite number of hours"),
        (["--rate", "10", "--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_bad_scenario_options_are_refused_in_one_line(args: list[str], says: str) -> None:
    """Each was a traceback, a silent fallback (folders 0 ran the pairwise model) or a run that
    could never end, before the workload checked its own settings."""
    result = CliRunner().invoke(sim, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines


def invoke(tmp_path: Path) -> list[str]:
    args = ["--rate", "20", "--capacity", "4", "--window-hours", "3", "--out", str(tmp_path)]
    result = CliRunner().invoke(sim, args)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()


def test_sq_sim_writes_csv_and_chart_and_ends_with_result(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    lines = invoke(tmp_path)

    assert lines[-1].startswith("RESULT ours_p50_vs_oracle=")
    assert (tmp_path / "sim.png").stat().st_size > 0
    with (tmp_path / "sim.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["strategy"] for r in rows] == [
        "serial",
        "optimistic",
        "bisect",
        "ours",
        "ours-standard",
        "ours+history",
        "oracle",
    ]
    assert {r["verified"] for r in rows} == {"yes"}


def test_sq_sim_without_matplotlib_writes_the_csv_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim_cli.report, "chart_available", lambda: False)
    lines = invoke(tmp_path)

    assert lines[-1].startswith("RESULT ")
    assert lines[-2].startswith("note: matplotlib is not installed")
    assert (tmp_path / "sim.csv").exists()
    assert not (tmp_path / "sim.png").exists()


def test_sq_sim_rejects_an_unknown_strategy() -> None:
    result = CliRunner().invoke(sim, ["--rate", "20", "--strategies", "ours,psychic"])

    assert result.exit_code == 2
    assert "unknown strategies psychic" in result.output


def test_sq_sim_runs_the_author_folder_model_with_a_drain() -> None:
    args = ["--rate", "20", "--window-hours", "3", "--strategies", "serial"]
    args += ["--failure-model", "author-folder", "--drain-hours", "0.5"]
    result = CliRunner().invoke(sim, args)

    assert result.exit_code == 0, result.output
    assert "p=0.1 risk=author-folder q=0.3 **(headline)** | serial |" in result.output


def test_the_grid_gives_the_same_results_in_parallel_tasks() -> None:
    grid = [small(3), dataclasses.replace(small(4), headline=False)]
    names = ("serial", "optimistic", "bisect", "oracle")

    alone = run_grid(grid, 2, names, jobs=1)
    parallel = run_grid(grid, 2, names, jobs=2)

    # Compared as text: NaN (no landing to split into phases) is never equal to itself.
    assert str(without_timing(report.csv_rows(parallel))) == str(
        without_timing(report.csv_rows(alone))
    )
    assert [r.scenario.name for r in parallel] == [s.name for s in grid]
    assert [set(r.seconds) for r in parallel] == [set(names)] * 2
