"""Fold build observations into path statuses (speculation-spec §1.6, §3.2).

The speculate run is the only writer of path sets; build stages write Build rows and PathBuild
links, and this step turns what they recorded into path statuses when the run reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sq.submitqueue.entity.build import Build, BuildStatus, is_build_terminal
from sq.submitqueue.entity.pathset import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_RELAUNCHES,
    PathAttempt,
    PathEntry,
    PathSet,
    PathStatus,
)
from sq.submitqueue.entity.pathset import is_path_terminal as _finished

BuildLookup = Mapping[PathAttempt, Build | None]
"""The build linked to each attempt: a missing key means no link; None, a link whose Build row
is missing (treated as not started)."""

_TERMINAL_STATUS = {
    BuildStatus.SUCCEEDED: PathStatus.PASSED,
    BuildStatus.FAILED: PathStatus.FAILED,
    BuildStatus.CANCELLED: PathStatus.CANCELLED,
    BuildStatus.LOST: PathStatus.CANCELLED,
}


def fold_entry(
    entry: PathEntry,
    builds: BuildLookup,
    now_ms: int,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    flaky_retries: int = 0,
    halted: bool = False,
) -> PathEntry:
    """The entry after what its current attempt's build reports; the same object if unchanged.

    Deviation from the reference (spec §7): a build that ended `cancelled` although nobody asked
    (the entry was not `cancelling`) is retried as a new `pending` attempt until `max_attempts`
    of its builds were lost that way; after that it is recorded `cancelled`, which finalize
    counts as dead, so the head fails instead of waiting forever.

    A build `lost` with its runner (our process restarted; its owner fell silent) is built again
    as a new attempt: CI never judged the tree, so it counts neither as a failure nor against
    `max_attempts`, only against the far larger `MAX_RELAUNCHES` (a build that keeps taking its
    runner down ends the path `cancelled` after that many).

    A build that `failed` while wanted is retried the same way, as a flaky build, while fewer than
    `flaky_retries` of the entry's failures were retried; the queue's default 0 records the first
    failure as the path's verdict.

    A `halted` head (its batch is being cancelled) retries nothing: its builds are being stopped,
    and a stop that lands before this run marked the entry `cancelling` was still asked for.
    """
    if _finished(entry.status):
        return entry
    if entry.execution not in builds:
        if entry.status is PathStatus.CANCELLING:  # nothing was dispatched: nothing to stop
            return entry.with_status(PathStatus.CANCELLED, now_ms)
        return entry
    build = builds[entry.execution]
    if build is None:
        return entry
    if not is_build_terminal(build.status):
        if entry.status is PathStatus.PENDING:
            return entry.with_status(PathStatus.BUILDING, now_ms)
        return entry  # building stays building; a cancelling intent is never overwritten
    status = _TERMINAL_STATUS[build.status]
    if halted:
        return entry.with_status(status, now_ms)
    wanted = entry.status is not PathStatus.CANCELLING
    if build.status is BuildStatus.LOST and wanted and entry.relaunched + 1 < MAX_RELAUNCHES:
        return _again(entry, now_ms, relaunched=1)
    unsolicited = build.status is BuildStatus.CANCELLED and wanted
    if unsolicited and entry.lost + 1 < max_attempts:
        return _again(entry, now_ms, lost=1)
    flaky = status is PathStatus.FAILED and wanted
    if flaky and entry.retried < flaky_retries:
        return _again(entry, now_ms, retried=1)
    return entry.with_status(status, now_ms)


def _again(
    entry: PathEntry, now_ms: int, *, lost: int = 0, relaunched: int = 0, retried: int = 0
) -> PathEntry:
    """A new pending attempt of `entry`, the counter of why it is built again raised by one."""
    return dataclasses.replace(
        entry,
        status=PathStatus.PENDING,
        attempt=entry.attempt + 1,
        lost=entry.lost + lost,
        relaunched=entry.relaunched + relaunched,
        retried=entry.retried + retried,
        updated_at_ms=now_ms,
    )


def fold_path_set(
    path_set: PathSet,
    builds: BuildLookup,
    now_ms: int,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    flaky_retries: int = 0,
    halted: bool = False,
) -> tuple[PathSet, bool]:
    """The set after folding every unfinished entry, and whether it changed (must be persisted)."""
    return path_set.map_entries(
        lambda e: fold_entry(e, builds, now_ms, max_attempts, flaky_retries, halted)
    )


def flaky_retried(before: PathSet, after: PathSet) -> tuple[PathEntry, ...]:
    """The entries of `after` whose failed build was just retried as flaky (a history event)."""
    return tuple(
        new
        for new in after.paths
        if (old := before.entry(new.id)) is not None and new.retried > old.retried
    )
