"""Flaky-build retry in the fold: a failed build is built again up to the queue's limit."""

from __future__ import annotations

import dataclasses

from sq.submitqueue.core.speculation.fold import (
    BuildLookup,
    flaky_retried,
    fold_entry,
    fold_path_set,
)
from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus
from sq.submitqueue.entity.path import make_path
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus


def _entry(status: PathStatus = PathStatus.BUILDING, retried: int = 0) -> PathEntry:
    entry = PathEntry.funded(make_path("h"), 0)
    return PathEntry(id=entry.id, path=entry.path, status=status, retried=retried)


def _failed(entry: PathEntry) -> BuildLookup:
    build = Build(
        id=BuildID("b"),
        batch_id=BatchID("h"),
        path_id=entry.id,
        attempt=entry.attempt,
        status=BuildStatus.FAILED,
    )
    return {entry.execution: build}


def test_a_failure_is_the_verdict_without_flaky_retries() -> None:
    entry = _entry()
    assert fold_entry(entry, _failed(entry), 5).status is PathStatus.FAILED


def test_a_failure_within_the_limit_is_a_new_attempt() -> None:
    entry = _entry()
    folded = fold_entry(entry, _failed(entry), 5, flaky_retries=1)
    assert (folded.status, folded.attempt, folded.retried, folded.lost) == (
        PathStatus.PENDING,
        2,
        1,
        0,
    )


def test_a_failure_past_the_limit_is_the_verdict() -> None:
    entry = _entry(retried=1)
    folded = fold_entry(entry, _failed(entry), 5, flaky_retries=1)
    assert folded.status is PathStatus.FAILED


def test_a_failure_of_a_build_asked_to_stop_is_not_retried() -> None:
    entry = _entry(PathStatus.CANCELLING)
    folded = fold_entry(entry, _failed(entry), 5, flaky_retries=3)
    assert folded.status is PathStatus.FAILED


def test_the_retried_entries_are_named_for_the_history() -> None:
    entry = _entry()
    before = PathSet(queue="q", head=BatchID("h"), paths=(entry,))
    after, changed = fold_path_set(before, _failed(entry), 5, flaky_retries=2)
    assert changed
    assert [e.attempt for e in flaky_retried(before, after)] == [2]
    assert flaky_retried(after, after) == ()


def test_a_halted_head_retries_no_build_it_stopped_before_marking_the_entry() -> None:
    """The batch is `cancelling` and its build's stop landed before a speculate run marked the
    entry: the cancellation was asked for, so no new attempt is made (one would never be built,
    and the head would wait for it forever)."""
    entry = _entry()
    stopped = _failed(entry)
    build = stopped[entry.execution]
    assert build is not None
    stopped = {entry.execution: dataclasses.replace(build, status=BuildStatus.CANCELLED)}
    assert fold_entry(entry, stopped, 5).status is PathStatus.PENDING  # a lost build, when wanted
    folded = fold_entry(entry, stopped, 5, halted=True)
    assert (folded.status, folded.attempt) == (PathStatus.CANCELLED, entry.attempt)
    assert fold_entry(entry, _failed(entry), 5, flaky_retries=2, halted=True).attempt == 1
