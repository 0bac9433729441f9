"""GitMerger's steps: turning a request into planned changes, and applying them in a worktree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sq.platform.changeuri import ChangeURIError, GitChangeURI, GitHubChangeURI, parse
from sq.platform.git import Conflict, GitRepo, Worktree
from sq.runway.extension.merger import MergeInput, MergeOutcome, MergeResult, Strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    uri: str
    ref: str
    """The ref the change lives on in the remote (its branch, or the pull request's head)."""
    sha: str
    strategy: Strategy
    label: str


def plan_changes(request: MergeInput) -> list[Planned] | MergeResult:
    """Validate the request and resolve each change URI, or say why it is invalid."""
    if not request.changes:
        return _invalid("no changes to merge")
    if not request.target_ref.startswith("refs/"):
        return _invalid(f"target {request.target_ref!r} is not a fully-qualified ref")
    planned: list[Planned] = []
    for change in request.changes:
        try:
            uri = parse(change.uri)
        except ChangeURIError as exc:
            return _invalid(str(exc), change.uri)
        strategy = change.strategy or request.strategy
        if isinstance(uri, GitChangeURI):
            label = f"{uri.repo}@{uri.ref.removeprefix('refs/heads/')}"
        elif isinstance(uri, GitHubChangeURI) and uri.sha is not None:
            label = f"{uri.org}/{uri.repo}#{uri.number}"
        elif isinstance(uri, GitHubChangeURI):
            return _invalid(
                "pull request URI is not pinned to a commit (use github://)", change.uri
            )
        else:
            return _invalid("a fake change cannot be landed by the git merger", change.uri)
        assert uri.sha is not None
        planned.append(
            Planned(uri=change.uri, ref=uri.ref, sha=uri.sha, strategy=strategy, label=label)
        )
    return planned


async def apply_changes(
    repo: GitRepo,
    worktree: Worktree,
    planned: Sequence[Planned],
    *,
    target: str,
    advertised: Mapping[str, str],
) -> list[tuple[str, ...]] | MergeResult:
    """Apply each change in order on the worktree (checked out at `target`).

    Returns the new commits per change (empty when the change was already present), or the
    terminal result that stopped it: a stale change (its ref in `advertised` names another
    commit), one with no history in common with the target, or a conflict.
    """
    landed: list[tuple[str, ...]] = []
    for i, plan in enumerate(planned):
        current = await worktree.head()
        if await repo.contains_change(current, plan.sha):
            landed.append(())
            continue
        moved_to = advertised.get(plan.ref)
        if moved_to is not None and moved_to != plan.sha:
            return MergeResult(
                outcome=MergeOutcome.STALE,
                reason=f"{plan.label} is stale: {plan.ref} is at {moved_to[:12]}, "
                f"the change names {plan.sha[:12]}",
                failed_change=plan.uri,
            )
        if await repo.merge_base(target, plan.sha) is None:
            return _invalid(f"{plan.label} shares no history with the target", plan.uri)
        author = await repo.commit_info(plan.sha)
        if plan.strategy is Strategy.MERGE:
            merged = await worktree.merge(plan.sha, message=f"Merge {plan.label}\n", author=author)
            if isinstance(merged, Conflict):
                return _conflict(plan, merged)
            landed.append((merged,))
            continue
        earlier = [p.sha for p in planned[:i]]
        commits = await repo.commits(plan.sha, exclude=[target, *earlier], merges=False)
        replay = await worktree.replay(commits)
        if replay.conflict is not None:
            return _conflict(plan, replay.conflict)
        created = replay.created
        if plan.strategy is Strategy.SQUASH_REBASE and len(created) > 1:
            message = await _squash_message(repo, plan, created)
            created = (await worktree.squash(current, message=message, author=author),)
        landed.append(created)
    return landed


async def _squash_message(repo: GitRepo, plan: Planned, created: Sequence[str]) -> str:
    subjects = [(await repo.commit_info(sha)).subject for sha in created]
    listing = "".join(f"* {subject}\n" for subject in subjects)
    return f"{subjects[0]}\n\nSquashed {len(created)} commits of {plan.label}:\n{listing}"


def _conflict(plan: Planned, conflict: Conflict) -> MergeResult:
    paths = ", ".join(conflict.paths)
    return MergeResult(
        outcome=MergeOutcome.CONFLICT,
        reason=f"{plan.label} conflicts at commit {conflict.commit[:12]} in {paths}",
        failed_change=plan.uri,
    )


def _invalid(reason: str, uri: str | None = None) -> MergeResult:
    return MergeResult(outcome=MergeOutcome.INVALID, reason=reason, failed_change=uri)
