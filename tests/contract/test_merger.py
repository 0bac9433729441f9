"""The Merger contract, for every implementation."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from sq.platform.changeuri import branch_head_uri
from sq.platform.git.sandbox import GitSandbox
from sq.runway.extension.merger import (
    Change,
    MergeInput,
    MergeOutcome,
    Merger,
    MergerError,
    MergeResult,
)
from sq.runway.extension.merger.fake import FakeMerger
from sq.runway.extension.merger.git import GitMerger
from sq.runway.extension.merger.noop import NoopMerger

SHA = re.compile(r"[0-9a-f]{40}")
Harness = tuple[Merger, Callable[[int], MergeInput]]


def _fake_uris(n: int) -> list[str]:
    return [f"fake://demo/change-{i}?sq-files=dir{i}/f.txt" for i in range(n)]


def _request(repository: str, uris: list[str], *, dry_run: bool = False) -> MergeInput:
    return MergeInput(
        id="q/batch/1",
        queue="q",
        repository=repository,
        changes=tuple(Change(uri=u) for u in uris),
        dry_run=dry_run,
    )


@pytest.fixture(params=["noop", "fake", "git"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    """A merger and a way to make a request for `n` fresh, independent changes."""
    if request.param in ("noop", "fake"):
        merger: Merger = NoopMerger() if request.param == "noop" else FakeMerger()
        return merger, lambda n: _request("unused", _fake_uris(n))
    box = GitSandbox(tmp_path / "box")
    box.seed()
    made = iter(range(1000))

    def make(n: int) -> MergeInput:
        uris = []
        for _ in range(n):
            i = next(made)
            box.checkout(f"c{i}", box.origin_ref("refs/heads/main"))
            box.commit(f"change {i}", {f"dir{i}/f.txt": f"{i}\n"})
            box.push(f"c{i}")
            uris.append(str(branch_head_uri(str(box.origin), f"c{i}", box.head())))
        return _request(str(box.origin), uris)

    return GitMerger(workspace_dir=tmp_path / "ws"), make


def run(merger: Merger, request: MergeInput) -> MergeResult:
    return asyncio.run(merger.merge(request))


def test_merge_lands_every_change_in_order(harness: Harness) -> None:
    merger, make = harness
    request = make(2)
    result = run(merger, request)
    assert result.outcome is MergeOutcome.MERGED, result.reason
    assert result.succeeded
    assert result.reason
    assert [c.uri for c in result.changes] == [c.uri for c in request.changes]
    for change in result.changes:
        assert change.landed
        assert all(SHA.fullmatch(sha) for sha in change.landed)


def test_dry_run_reports_mergeable_and_changes_nothing(harness: Harness) -> None:
    merger, make = harness
    request = make(1)
    check = run(merger, dataclasses.replace(request, dry_run=True))
    assert check.outcome is MergeOutcome.MERGEABLE, check.reason
    assert [c.landed for c in check.changes] == [()]
    assert run(merger, request).outcome is MergeOutcome.MERGED


def test_landing_again_is_already_merged(harness: Harness) -> None:
    merger, make = harness
    request = make(1)
    assert run(merger, request).outcome is MergeOutcome.MERGED
    again = run(merger, request)
    assert again.outcome is MergeOutcome.ALREADY_MERGED, again.reason
    assert again.succeeded
    assert [c.landed for c in again.changes] == [()]


def test_a_request_without_changes_is_invalid(harness: Harness) -> None:
    merger, make = harness
    result = run(merger, dataclasses.replace(make(0), changes=()))
    assert result.outcome is MergeOutcome.INVALID
    assert result.outcome.terminal_failure
    assert not result.succeeded


def test_results_are_frozen(harness: Harness) -> None:
    merger, make = harness
    result = run(merger, make(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.reason = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("marker", "outcome"),
    [("merge-conflict", MergeOutcome.CONFLICT), ("merge-invalid", MergeOutcome.INVALID)],
)
def test_fake_markers_fail_terminally(marker: str, outcome: MergeOutcome) -> None:
    uris = ["fake://demo/a", f"fake://demo/b?sq-fake={marker}", "fake://demo/c?sq-fake=merge-error"]
    for dry_run in (False, True):
        result = run(FakeMerger(), _request("unused", uris, dry_run=dry_run))
        assert result.outcome is outcome
        assert result.failed_change == uris[1]
        assert marker in result.reason


def test_fake_merge_error_raises_a_retryable_error() -> None:
    with pytest.raises(MergerError):
        run(FakeMerger(), _request("unused", ["fake://demo/a?sq-fake=merge-error"]))


def test_fake_ignores_markers_of_other_components() -> None:
    result = run(FakeMerger(), _request("unused", ["fake://demo/a?sq-fake=build-fail"]))
    assert result.outcome is MergeOutcome.MERGED
