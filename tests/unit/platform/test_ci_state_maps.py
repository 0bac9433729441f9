"""The CI states each remote runner reports, as `doc/github.md` tabulates them."""

from __future__ import annotations

import pytest

from sq.platform.build import BuildState
from sq.platform.build.buildkite import _ci_build as buildkite_build
from sq.platform.build.github_actions import _ci_build as actions_run

P, R, OK, F, C, E = (
    BuildState.PENDING,
    BuildState.RUNNING,
    BuildState.PASSED,
    BuildState.FAILED,
    BuildState.CANCELLED,
    BuildState.ERROR,
)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("creating", P),
        ("scheduled", P),
        ("waiting", P),
        ("running", R),
        ("failing", R),
        ("canceling", R),
        ("blocked", R),
        ("passed", OK),
        ("failed", F),
        ("waiting_failed", F),
        ("canceled", C),
        ("skipped", E),
        ("not_run", E),
        ("some-new-state", R),
    ],
)
def test_buildkite_states(state: str, expected: BuildState) -> None:
    build = buildkite_build({"number": 7, "state": state, "created_at": "2026-01-02T03:04:05Z"})
    assert (build.handle, build.state) == ("7", expected)
    assert build.created_at_ms == 1_767_323_045_000


@pytest.mark.parametrize(
    ("status", "conclusion", "expected"),
    [
        ("requested", None, P),
        ("queued", None, P),
        ("waiting", None, P),
        ("pending", None, P),
        ("in_progress", None, R),
        ("completed", "success", OK),
        ("completed", "failure", F),
        ("completed", "timed_out", F),
        ("completed", "cancelled", C),
        ("completed", "neutral", E),
        ("completed", "skipped", E),
        ("completed", "startup_failure", E),
        ("completed", None, E),
    ],
)
def test_actions_statuses_and_conclusions(
    status: str, conclusion: str | None, expected: BuildState
) -> None:
    run = actions_run({"id": 99, "status": status, "conclusion": conclusion})
    assert (run.handle, run.state) == ("99", expected)
