"""GitMerger: lands changes with the git CLI from one persistent workspace per queue."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from sq.platform.git import (
    DEFAULT_TIMEOUT_S,
    RUNWAY_IDENTITY,
    GitError,
    GitRepo,
    Identity,
    RefUpdate,
    push,
    remove_stale_worktrees,
    temporary_worktree,
)
from sq.runway.extension.merger import (
    ChangeResult,
    LandingCheck,
    MergeInput,
    MergeOutcome,
    MergerError,
    MergeResult,
)
from sq.runway.extension.merger._gitapply import Planned, apply_changes, plan_changes
from sq.runway.extension.merger._gitbase import check_built_base, check_disjoint_base

_TARGET = "refs/sq/target"
_LANDING = "refs/sq/landing"


class GitMerger:
    """Lands changes on a remote target ref with the git CLI.

    Each queue gets a bare workspace clone under `workspace_dir` (kept across calls so fetches
    are incremental) and an asyncio lock, so requests of one queue run one at a time and
    different queues run in parallel. Every attempt fetches the target, applies the changes in a
    temporary worktree and pushes the result with a lease on the target it started from; when
    the target moved in between, the attempt is repeated, up to `max_attempts` times. A landing
    that names the base its build was made on is pushed only when it passes its landing check
    against that base (`_gitbase.py`: the target is the base plus exactly the assumed landings,
    or the landed tree differs from the built one only where other lanes landed), checked after
    "already merged" so that a redelivered landing is still answered as done.

    Decisions are results (see MergeOutcome); git or remote failures raise MergerError.
    """

    def __init__(
        self,
        *,
        workspace_dir: Path,
        identity: Identity = RUNWAY_IDENTITY,
        max_attempts: int = 10,
        check_staleness: bool = True,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._workspace_dir = workspace_dir
        self._identity = identity
        self._max_attempts = max_attempts
        self._check_staleness = check_staleness
        self._timeout_s = timeout_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._opened: set[Path] = set()

    def workspace_path(self, queue: str) -> Path:
        """The queue's workspace: a readable slug plus a hash, so any queue name is a safe path."""
        slug = re.sub(r"[^A-Za-z0-9._-]", "_", queue)[:60].lstrip(".") or "queue"
        digest = hashlib.sha256(queue.encode()).hexdigest()[:12]
        return self._workspace_dir / f"{slug}-{digest}"

    async def merge(self, request: MergeInput) -> MergeResult:
        planned = plan_changes(request)
        if isinstance(planned, MergeResult):
            return planned
        assumed: list[Planned] = []
        if request.assumed:
            checked = plan_changes(dataclasses.replace(request, changes=request.assumed))
            if isinstance(checked, MergeResult):
                return checked
            assumed = checked
        async with self._locks.setdefault(request.queue, asyncio.Lock()):
            try:
                repo = await self._workspace(request)
                for _ in range(self._max_attempts):
                    result = await self._attempt(repo, request, planned, assumed)
                    if result is not None:
                        return result
            except GitError as exc:
                raise MergerError(f"merging {request.id} failed in git: {exc}") from exc
        return MergeResult(
            outcome=MergeOutcome.RETRY,
            reason=f"{request.target_ref} moved during each of {self._max_attempts} attempts",
        )

    async def _workspace(self, request: MergeInput) -> GitRepo:
        path = self.workspace_path(request.queue)
        repo = await GitRepo.open_workspace(
            path, request.repository, identity=self._identity, timeout_s=self._timeout_s
        )
        if path not in self._opened:
            await remove_stale_worktrees(repo)
            self._opened.add(path)
        return repo

    async def _attempt(
        self,
        repo: GitRepo,
        request: MergeInput,
        planned: Sequence[Planned],
        assumed: Sequence[Planned],
    ) -> MergeResult | None:
        """One fetch-apply-push cycle; None when the target moved and the cycle must repeat."""
        refs = [request.target_ref, *dict.fromkeys(p.ref for p in planned)]
        advertised = await repo.ls_remote(refs)
        target = advertised.get(request.target_ref)
        if target is None:
            return MergeResult(
                outcome=MergeOutcome.INVALID,
                reason=f"target {request.target_ref} does not exist in {request.repository}",
            )
        await repo.fetch([f"+{request.target_ref}:{_TARGET}"])
        for i, plan in enumerate(planned):
            ref = plan.ref if plan.ref in advertised else None
            if not await repo.fetch_commit(plan.sha, ref=ref, local_ref=f"refs/sq/change/{i}"):
                return MergeResult(
                    outcome=MergeOutcome.INVALID,
                    reason=f"commit {plan.sha} of {plan.label} is not in {request.repository}",
                    failed_change=plan.uri,
                )
        stale = advertised if self._check_staleness else {}
        async with temporary_worktree(repo, target) as worktree:
            applied = await apply_changes(repo, worktree, planned, target=target, advertised=stale)
            if isinstance(applied, MergeResult):
                return applied
            head = await worktree.head()
            await repo.run("update-ref", _LANDING, head)
        changes = tuple(
            ChangeResult(uri=p.uri, landed=() if request.dry_run else landed)
            for p, landed in zip(planned, applied, strict=True)
        )
        if head == target:
            return MergeResult(
                outcome=MergeOutcome.ALREADY_MERGED,
                reason=f"every change is already on {request.target_ref}",
                changes=changes,
                target_sha=target,
            )
        if request.dry_run:
            return MergeResult(
                outcome=MergeOutcome.MERGEABLE,
                reason=f"applies cleanly on {request.target_ref} at {target[:12]}",
                changes=changes,
                target_sha=target,
            )
        if request.base is not None:
            if request.landing_check is LandingCheck.DISJOINT:
                refused = await check_disjoint_base(
                    repo, request.base, assumed, planned, target=target, landed=head
                )
            else:
                refused = await check_built_base(repo, request.base, assumed, target=target)
            if refused is not None:
                return refused
        return await self._push(repo, request, planned, changes, target=target, head=head)

    async def _push(
        self,
        repo: GitRepo,
        request: MergeInput,
        planned: Sequence[Planned],
        changes: tuple[ChangeResult, ...],
        *,
        target: str,
        head: str,
    ) -> MergeResult | None:
        updates = [RefUpdate(ref=request.target_ref, new=head, expected=target)]
        if request.update_head_branches:
            updates += [
                RefUpdate(ref=p.ref, new=c.landed[-1], expected=p.sha)
                for p, c in zip(planned, changes, strict=True)
                if c.landed and p.ref.startswith("refs/heads/") and p.ref != request.target_ref
            ]
        pushed = await push(repo, updates)
        if pushed.ok:
            landed = sum(len(c.landed) for c in changes)
            return MergeResult(
                outcome=MergeOutcome.MERGED,
                reason=f"landed {landed} commit(s) on {request.target_ref} at {head[:12]}",
                changes=changes,
                target_sha=head,
            )
        # The remote may reject a racing update after the client-side lease check passed ("failed
        # to update ref"), so whether the target moved is decided by looking again.
        now = (await repo.ls_remote([request.target_ref])).get(request.target_ref)
        if now != target:
            return None
        if pushed.moved:
            return MergeResult(
                outcome=MergeOutcome.STALE,
                reason=f"a change's branch moved while landing: {pushed.describe()}",
            )
        return MergeResult(
            outcome=MergeOutcome.INVALID, reason=f"the remote refused: {pushed.describe()}"
        )
