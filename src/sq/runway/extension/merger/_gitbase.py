"""GitMerger's check that a landing is exact: the target is the base its build was made on plus
exactly the queue's own landings the build assumed, compared commit by commit by tree hash."""

from __future__ import annotations

from collections.abc import Sequence

from sq.platform.git import GitRepo, temporary_worktree
from sq.runway.extension.merger import MergeOutcome, MergeResult
from sq.runway.extension.merger._gitapply import Planned, apply_changes


async def check_built_base(
    repo: GitRepo, base: str, assumed: Sequence[Planned], *, target: str
) -> MergeResult | None:
    """None when `target` is `base` followed (first parent) by one commit per commit that
    replaying `assumed` on `base` makes, tree for tree; otherwise the `OUTDATED` answer.

    Comparing trees rather than commit ids accepts the queue's landings whatever their
    committer dates, and nothing else: an outside push, a rewrite or a missing landing all
    change some tree in the chain. Any commit the check cannot find is also `OUTDATED`, so the
    orchestrator builds again on the target as it is (where the answer no longer needs them).
    """
    if not await repo.fetch_commit(base) or not await repo.is_ancestor(base, target):
        return _outdated(f"the target at {target[:12]} does not descend from the built base")
    actual = (
        await repo.run("rev-list", "--first-parent", "--reverse", f"{base}..{target}")
    ).text.split()
    expected: list[str] = []
    if assumed:
        for plan in assumed:
            if not await repo.fetch_commit(plan.sha, ref=plan.ref):
                return _outdated(f"cannot find {plan.label} to check the target against")
        async with temporary_worktree(repo, base) as worktree:
            replayed = await apply_changes(repo, worktree, assumed, target=base, advertised={})
            if isinstance(replayed, MergeResult):
                return _outdated(
                    f"the assumed changes no longer replay on the base: {replayed.reason}"
                )
            expected = [sha for landed in replayed for sha in landed]
            wanted = [await repo.tree_of(sha) for sha in expected]
    else:
        wanted = []
    found = [await repo.tree_of(sha) for sha in actual]
    if found != wanted:
        return _outdated(
            f"the target is not what the build assumed: {len(actual)} commit(s) on "
            f"{base[:12]}..{target[:12]} where the build assumed {len(expected)} landed"
        )
    return None


def _outdated(reason: str) -> MergeResult:
    return MergeResult(outcome=MergeOutcome.OUTDATED, reason=f"{reason}; building again")
