"""Funded paths: their status machine, entries and per-head sets (speculation-spec §1.5-1.6)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.entity.path import PathID, SpeculationPath


class PathStatus(enum.StrEnum):
    UNKNOWN = ""  # never valid; a stored entry carrying it is corrupt
    PENDING = "pending"
    BUILDING = "building"
    PASSED = "passed"
    FAILED = "failed"
    CANCELLING = "cancelling"  # an intent to stop the build; not terminal
    CANCELLED = "cancelled"


TERMINAL_PATH_STATUSES = frozenset({PathStatus.PASSED, PathStatus.FAILED, PathStatus.CANCELLED})
BUDGET_PATH_STATUSES = frozenset({PathStatus.PENDING, PathStatus.BUILDING, PathStatus.CANCELLING})
"""Statuses that hold a slot of the queue's build budget until the build is seen stopped."""

DEFAULT_MAX_ATTEMPTS = 3
"""Attempts a path gets when CI keeps cancelling its build on its own."""
MAX_RELAUNCHES = 10
"""Builds of one path lost with their runner before the path counts as dead: a restart costs a
rebuild, but a build that keeps taking its runner down (killed for its memory, say) must not be
relaunched forever."""


def is_path_terminal(status: PathStatus) -> bool:
    return status in TERMINAL_PATH_STATUSES


_PATH_TRANSITIONS: frozenset[tuple[PathStatus | None, PathStatus]] = frozenset(
    {
        (None, PathStatus.PENDING),
        (PathStatus.PENDING, PathStatus.BUILDING),
        *(
            (s, t)
            for s in (PathStatus.PENDING, PathStatus.BUILDING)
            for t in TERMINAL_PATH_STATUSES
        ),
        (PathStatus.PENDING, PathStatus.CANCELLING),
        (PathStatus.BUILDING, PathStatus.CANCELLING),
        # A cancelling path whose build finished anyway records what the build reported.
        *((PathStatus.CANCELLING, t) for t in TERMINAL_PATH_STATUSES),
        # A new attempt of a finished path: a build CI cancelled on its own (spec §7), or a failed
        # one retried as flaky (core/speculation/fold.py); the check step rejects other rebuilds.
        *((t, PathStatus.PENDING) for t in TERMINAL_PATH_STATUSES),
    }
)


def can_transition_path(old: PathStatus | None, new: PathStatus) -> bool:
    """Whether the speculate run may move an entry from `old` (None: no entry yet) to `new`.

    `<terminal> → pending` is only legal together with an attempt increment.
    """
    return (old, new) in _PATH_TRANSITIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class PathAttempt:
    """One execution of a path: `(path id, attempt)` is what a build is linked to."""

    path_id: PathID
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PathEntry:
    """A funded path as stored: its status and attempt. It carries no score and no build id."""

    id: PathID
    path: SpeculationPath
    status: PathStatus
    attempt: int = 1
    lost: int = 0
    """How many of its attempts' builds CI cancelled on its own. Only these count against the
    retry cap: a new attempt after an outdated landing (the target moved) is not a lost build."""
    relaunched: int = 0
    """How many of its attempts' builds were lost with the runner that ran them (our process
    restarted, or its owner fell silent). Not CI's doing: these count against `MAX_RELAUNCHES`
    only, never the retry cap, so a few crashes never fail a change."""
    retried: int = 0
    """How many of its attempts' failed builds were retried as flaky (the queue's
    `flaky_retries`); a failure past that many is the path's verdict."""
    version: int = 1
    created_at_ms: int = 0
    updated_at_ms: int = 0
    carries: BatchID | None = None
    """Set on the passed entry a head lands with when that landing also carries a failed
    dependency (pending-failure depth, core/speculation/pending.py)."""

    @classmethod
    def funded(cls, path: SpeculationPath, now_ms: int) -> PathEntry:
        return cls(
            id=path.id,
            path=path,
            status=PathStatus.PENDING,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
        )

    @property
    def cancelled_for_good(self) -> bool:
        """Cancelled, and CI lost its build on every attempt it gets (or its runner went away with
        it `MAX_RELAUNCHES` times): counted dead. One cancelled earlier was stopped on request
        (preempted for a better build) and may be built again."""
        return self.status is PathStatus.CANCELLED and (
            self.lost + 1 >= DEFAULT_MAX_ATTEMPTS or self.relaunched + 1 >= MAX_RELAUNCHES
        )

    @property
    def execution(self) -> PathAttempt:
        return PathAttempt(path_id=self.id, attempt=self.attempt)

    def with_status(self, status: PathStatus, now_ms: int) -> PathEntry:
        return dataclasses.replace(self, status=status, updated_at_ms=now_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class PathSet:
    """Every entry funded for one head, written as a whole under one compare-and-swap version.

    `version` is 0 for a set that was never stored; storing it the first time makes it 1.
    Entries are kept in funding order and never removed.
    """

    queue: str
    head: BatchID
    paths: tuple[PathEntry, ...] = ()
    version: int = 0

    def entry(self, path_id: PathID) -> PathEntry | None:
        for entry in self.paths:
            if entry.id == path_id:
                return entry
        return None

    def map_entries(self, change: Callable[[PathEntry], PathEntry]) -> tuple[PathSet, bool]:
        """A copy with `change` applied to every entry, and whether any entry changed."""
        paths = tuple(change(e) for e in self.paths)
        changed = any(new is not old for new, old in zip(paths, self.paths, strict=True))
        return (dataclasses.replace(self, paths=paths) if changed else self), changed

    def with_entry(self, entry: PathEntry) -> PathSet:
        """A copy with `entry` replacing the one of the same id, or appended when new."""
        if self.entry(entry.id) is None:
            return dataclasses.replace(self, paths=(*self.paths, entry))
        return dataclasses.replace(
            self, paths=tuple(entry if e.id == entry.id else e for e in self.paths)
        )
