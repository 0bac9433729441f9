"""Execution records written by build stages, folded in by speculate (speculation-spec §1.7)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

from sq.platform.build import STOPPED_WITH_RUNNER, BuildState
from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.entity.path import PathID

BuildID = NewType("BuildID", str)


class BuildStatus(enum.StrEnum):
    UNKNOWN = ""
    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"
    """Its runner is gone (a restarted process, an owner that fell silent): CI gave no verdict on
    the tree, and the path is built again without counting against its retry cap."""


TERMINAL_BUILD_STATUSES = frozenset(
    {BuildStatus.SUCCEEDED, BuildStatus.FAILED, BuildStatus.CANCELLED, BuildStatus.LOST}
)


def is_build_terminal(status: BuildStatus) -> bool:
    return status in TERMINAL_BUILD_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class Build:
    """One CI build of one attempt of one path; `id` is minted by the build runner."""

    id: BuildID
    batch_id: BatchID
    path_id: PathID
    attempt: int
    status: BuildStatus
    base: str = ""
    """The target commit the build was made on; empty when the runner chose it (fake builds)."""
    assumed: tuple[BatchID, ...] = ()
    """The batches the build applied on `base`, in order: the path's assumptions that had not
    landed when it started. A landing of this build is exact only on `base` plus their landings."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PathBuild:
    """The write-once link from an attempt of a path to the build that runs it."""

    queue: str
    path_id: PathID
    attempt: int
    build_id: BuildID


LOST_REASON = "presumed lost: its owner stopped renewing its heartbeat"


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildRun:
    """Where a build runs and what its runner last reported, so that any instance can serve it.

    `owner` is the orchestrator process whose runner runs the build; it renews `heartbeat_ms`
    while the build is unfinished, and stops it once `cancel_requested` is set by any instance.
    """

    queue: str
    build_id: BuildID
    owner: str
    state: BuildState
    reason: str = ""
    heartbeat_ms: int
    cancel_requested: bool = False


def lost_with_runner(state: BuildState, reason: str) -> bool:
    """A runner's cancellation that nobody asked for and CI had no part in."""
    return state is BuildState.CANCELLED and reason in (LOST_REASON, STOPPED_WITH_RUNNER)
