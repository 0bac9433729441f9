"""Dispatch: apply accepted proposals to a head's path set (speculation-spec §3.7)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus, is_path_terminal
from sq.submitqueue.entity.proposal import PathAction, Speculation


def apply_proposals(
    path_set: PathSet, proposals: Iterable[Speculation], now_ms: int
) -> tuple[PathSet, bool]:
    """The set after this head's accepted proposals, and whether it changed.

    A build of a new path appends a `pending` entry at attempt 1; a build of a live one is a no-op;
    a build of a finished one starts a new attempt (the check step rejects it today). A cancel
    marks a live entry `cancelling`; a cancel of an unknown path is ignored.
    """
    changed = False
    for proposal in proposals:
        if proposal.path.head != path_set.head:
            raise ValueError(f"proposal for {proposal.path.head} applied to {path_set.head}")
        entry = path_set.entry(proposal.path.id)
        updated = _apply(entry, proposal, now_ms)
        if updated is not None and updated is not entry:
            path_set = path_set.with_entry(updated)
            changed = True
    return path_set, changed


def _apply(entry: PathEntry | None, proposal: Speculation, now_ms: int) -> PathEntry | None:
    if proposal.action is PathAction.CANCEL:
        if entry is None or entry.status is PathStatus.CANCELLING or is_path_terminal(entry.status):
            return entry
        return entry.with_status(PathStatus.CANCELLING, now_ms)
    if entry is None:
        return PathEntry.funded(proposal.path, now_ms)
    if not is_path_terminal(entry.status):
        return entry
    return dataclasses.replace(
        entry, status=PathStatus.PENDING, attempt=entry.attempt + 1, updated_at_ms=now_ms
    )


def needs_dispatch(path_set: PathSet | None) -> bool:
    """A head with a pending entry must be handed to the build stage (again, until observed)."""
    return path_set is not None and any(e.status is PathStatus.PENDING for e in path_set.paths)


def dispatch_key(path_set: PathSet) -> str:
    """What a `build` hand-off of this head is about: its pending (path, attempt) pairs, hashed.

    Every run that finds a pending entry hands the head over again, until a run sees the build
    stage's link; at depth one more run usually comes in between (doc/benchmarks.md). Under one
    key those hand-offs are one message. The build stage starts every pending entry it reads, and
    an entry pending again is a new attempt, so a new key: a hand-off that dedups is one whose
    entries a delivered one already started (or one still waiting to be delivered).
    """
    pending = sorted(
        f"{e.id}:{e.attempt}" for e in path_set.paths if e.status is PathStatus.PENDING
    )
    return hashlib.blake2b(" ".join(pending).encode(), digest_size=8).hexdigest()
