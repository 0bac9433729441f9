"""The Merger seam: dry-run conflict checks and real landings of changes on a target ref.

Implementations: `noop.NoopMerger` (touches nothing), `fake.FakeMerger` (noop plus failure markers,
submitqueue-spec §8.5) and `git.GitMerger` (fetch, rebase / squash-rebase / merge, one push).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from sq.platform.errs import RetryableDependencyError


class Strategy(enum.StrEnum):
    REBASE = "rebase"
    """Each commit of the change replayed on the target."""
    SQUASH_REBASE = "squash-rebase"
    """The change's commits replayed, then collapsed into one commit authored as its head."""
    MERGE = "merge"
    """One merge commit per change (`--no-ff`), authored as its head."""


class MergeOutcome(enum.StrEnum):
    MERGED = "merged"
    """Every change is on the target now; at least one new commit was pushed."""
    MERGEABLE = "mergeable"
    """Dry run: the changes apply cleanly on the current target. Nothing was pushed."""
    ALREADY_MERGED = "already-merged"
    """Every change was already on the target; nothing was (or, dry, would be) pushed."""
    CONFLICT = "conflict"
    """A change does not apply on the target (terminal)."""
    STALE = "stale"
    """A change's branch no longer points at the commit its URI names (terminal)."""
    INVALID = "invalid"
    """The request cannot be carried out as asked: bad URI, unknown commit, unknown target,
    unrelated history, a push the remote refuses for good (terminal)."""
    OUTDATED = "outdated"
    """The landing fails `MergeInput.landing_check`: with `EXACT` the target is neither
    `MergeInput.base` nor `base` plus exactly the landings of `MergeInput.assumed`; with
    `DISJOINT` a change the build assumed is not on the target, or the tree that would land
    differs from the built one on a path the batch changed (terminal)."""
    RETRY = "retry"
    """Not decided: the target kept moving under us. Ask again later."""

    @property
    def succeeded(self) -> bool:
        return self in (MergeOutcome.MERGED, MergeOutcome.MERGEABLE, MergeOutcome.ALREADY_MERGED)

    @property
    def terminal_failure(self) -> bool:
        return self in (
            MergeOutcome.CONFLICT,
            MergeOutcome.STALE,
            MergeOutcome.INVALID,
            MergeOutcome.OUTDATED,
        )


class LandingCheck(enum.StrEnum):
    EXACT = "exact"
    """Land only on `base` plus exactly the `assumed` landings: every tree the target takes was
    built."""
    DISJOINT = "disjoint"
    """Land when every `assumed` change is on the target and the tree that would land differs
    from the built one only on paths the batch did not change and the target did since `base`
    (other lanes' landings): what the batch changed lands byte for byte as built; the
    composition with the other lanes was not built."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    uri: str
    """Canonical change URI (sq.platform.changeuri)."""
    strategy: Strategy | None = None
    """Overrides `MergeInput.strategy` for this change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeInput:
    id: str
    """Correlation id echoed by the caller's answer (a request id for a check, a batch id)."""
    queue: str
    repository: str
    """Where the target lives: any URL or path git can fetch from and push to."""
    target_ref: str = "refs/heads/main"
    strategy: Strategy = Strategy.REBASE
    changes: tuple[Change, ...] = ()
    """Applied in this order (changes already landing first, the candidate last); all of them
    reach the target in one ref update or none does."""
    dry_run: bool = False
    base: str | None = None
    """The commit the build of these changes was made on. When set (and not a dry run), land
    only if the target passes `landing_check` against it, else `OUTDATED`."""
    assumed: tuple[Change, ...] = ()
    """Changes the build applied on `base` before `changes` (the queue's landings it assumed)."""
    landing_check: LandingCheck = LandingCheck.EXACT
    """How the target is compared with what was built, when `base` is set."""
    update_head_branches: bool = False
    """After landing, move each change's own branch to the commit it became (in the same atomic
    push, leased on the change's sha), so a resubmission of the old sha is seen as stale."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeResult:
    uri: str
    landed: tuple[str, ...] = ()
    """Commits this change became on the target, oldest first; empty for a dry run and for a
    change that was already present."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeResult:
    outcome: MergeOutcome
    reason: str
    """One line for humans: what was done, or why not."""
    changes: tuple[ChangeResult, ...] = ()
    """One per input change, in input order, when the outcome succeeded."""
    target_sha: str | None = None
    """The target after landing, or the target a dry run was checked against."""
    failed_change: str | None = None
    """The URI a conflict, staleness or invalidity is about, when it is about one change."""

    @property
    def succeeded(self) -> bool:
        return self.outcome.succeeded


class MergerError(RetryableDependencyError):
    """The merger could not reach a decision for an infrastructure reason (git or the remote
    failed); the cause is chained. Retryable: the same request may be tried again."""


class Merger(Protocol):
    """Lands changes on a target ref, or checks that they would land.

    Contract:
    - Expected outcomes, failures included, are returned as a `MergeResult`; only infrastructure
      failures raise (`MergerError`, chaining the cause).
    - Atomic: either every change of the request reaches the target in a single ref update, or
      the target is not touched. A dry run never changes the remote.
    - Idempotent: repeating a request whose changes already landed returns `ALREADY_MERGED`
      without pushing again, so redelivered messages are harmless.
    - Concurrency: requests for one queue are serialized by the implementation; requests for
      different queues may run in parallel.
    """

    async def merge(self, request: MergeInput) -> MergeResult:
        """Land (or with `request.dry_run`, check) `request.changes` on `request.target_ref`."""
        ...
