"""What the orchestrator needs to know about each queue: its chosen implementations and target."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from sq.api.runway import LandingCheck
from sq.platform.build import BuildRunner
from sq.platform.clock import Clock
from sq.platform.errs import UserError
from sq.platform.hooks import HookDeps, default_hook_deps
from sq.submitqueue.core.batching import BatchPolicy
from sq.submitqueue.extension.changeprovider import ChangeProvider
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.scorer.outcomes import OutcomeSink
from sq.submitqueue.extension.speculator import Speculator
from sq.submitqueue.orchestrator.buildruns import BuildRuns
from sq.submitqueue.orchestrator.storage import OrchestratorStorage


class UnknownQueueError(UserError):
    """A message names a queue this orchestrator is not configured for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueProfile:
    name: str
    provider: ChangeProvider
    analyzer: ConflictAnalyzer
    speculator: Speculator
    runner: BuildRunner
    repository: str = ""
    """What builds fetch from (any URL or path git understands); empty for fake builds."""
    target: str = "refs/heads/main"
    strategy: str = "rebase"
    """Default landing strategy for requests that name none."""
    build_command: str = ""
    target_head: Callable[[], Awaitable[str]] | None = None
    """Reads the commit `target` names now, so a build is made on (and records) one exact base;
    None when the queue has no repository (fake builds choose their own)."""
    build_timeout_s: float = 1800.0
    outcomes: OutcomeSink | None = None
    """Told each batch's final fate, for a scorer that learns from this queue's history."""
    landing_check: LandingCheck = LandingCheck.EXACT
    """How runway compares a landing with its passed build (doc/speculation.md)."""
    early_landing: bool = False
    """Land a head ahead of unfinished dependencies when its passed paths cover them all."""
    flaky_retries: int = 0
    """How many times a path's failed build is built again before the failure counts."""
    pending_failure_depth: int = 0
    """How many dependents behind a failed head may still carry it (doc/controls.md)."""
    batching: BatchPolicy = field(default_factory=BatchPolicy)
    """Which waiting requests share a batch, how a failed one splits (doc/batching-queue.md)."""
    scorer: Scorer | None = None
    """Scores each waiting request as a one-request batch for batching; None: every request is
    believed to pass."""
    separating_analyzer: ConflictAnalyzer | None = None
    """Which waiting requests conflict for batching's `separate_conflicting`; None: `analyzer`.
    An exact queue orders every change (`analyzer` is `all`) while its batches still keep apart
    only the changes its configured analyzer calls conflicting."""
    reports_end: bool = False
    """The runner signals each build's end itself (a completion callback that publishes to
    `buildsignal`): a running build is then polled only as a backstop
    (`OrchestratorDeps.build_backstop_s`), not every `build_poll_running_s`. External CI is
    polled."""


class Profiles:
    def __init__(self, profiles: Iterable[QueueProfile]) -> None:
        self._profiles = {p.name: p for p in profiles}

    def get(self, queue: str) -> QueueProfile:
        try:
            return self._profiles[queue]
        except KeyError:
            raise UnknownQueueError(f"queue {queue!r} is not configured") from None

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._profiles.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class OrchestratorDeps:
    storage: OrchestratorStorage
    profiles: Profiles
    clock: Clock
    build_poll_running_s: float = 2.0
    build_poll_other_s: float = 5.0
    build_backstop_s: float = 30.0
    """How often a running build is polled when its runner reports its end itself: for an owner
    that died, or a signal that was lost."""
    speculate_settle_s: float = 0.1
    """How long a speculate signal waits for the rest of its burst before a run reads the queue
    (controller/speculate_schedule.py); also the clock skew tolerated between processes."""
    hooks: HookDeps = field(default_factory=default_hook_deps)
    """Where the hook stage sends request events; the default only logs them."""
    runs: BuildRuns | None = None
    """Where builds' runner state is shared between instances; None keeps it in the runners
    alone (one process, as in most tests)."""
