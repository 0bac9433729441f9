"""GitMerger's checks of a landing against its build (`LandingCheck`): exact (the target is the
base its build was made on plus exactly the queue's own landings the build assumed, compared
commit by commit by tree hash) or disjoint (every assumed change is on the target, and the landed
tree differs from the built one only where the target moved, on paths the batch did not
change)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sq.platform.git import GitRepo, temporary_worktree
from sq.runway.extension.merger import MergeOutcome, MergeResult
from sq.runway.extension.merger._gitapply import Planned, apply_changes


async def check_disjoint_base(
    repo: GitRepo,
    base: str,
    assumed: Sequence[Planned],
    planned: Sequence[Planned],
    *,
    target: str,
    landed: str,
) -> MergeResult | None:
    """None when every assumed change is on `target` and the tree of `landed` (the batch
    replayed on `target`) differs from the built tree (the assumed changes and then the batch's
    replayed on `base`) only on paths that the batch itself did not change and that the target
    did since `base`; otherwise the `OUTDATED` answer.

    So every path the batch changed lands exactly as built, and nothing the build assumed is
    missing. A commit on the target touching a path the batch changed, or a replay that merges
    differently, differs on such a path. What was never built is the composition with whatever
    else moved the target: other lanes, which the conflict analyzer promised are independent,
    and pushes from outside the queue, on paths the batch did not change. That includes a path
    only an assumed change touched, which lands as the target holds it: that change (its own
    build passed on it) with whatever else reached the path. A build includes only the head's
    direct dependencies, so without this every head whose dependency shares a file with one of
    *its* dependencies was built again.
    """
    if target == base and not assumed:
        return None  # the batch is replayed on the very commit it was built on
    missing = await _find_base(repo, base, assumed, target=target)
    if missing is not None:
        return missing
    for plan in assumed:
        if not await repo.contains_change(target, plan.sha):
            return _outdated(f"{plan.label}, which the build assumed, is not on the target")
    async with temporary_worktree(repo, base) as worktree:
        replayed = await apply_changes(
            repo, worktree, [*assumed, *planned], target=base, advertised={}
        )
        if isinstance(replayed, MergeResult):
            return _outdated(f"the built changes no longer replay on the base: {replayed.reason}")
        built = await worktree.head()
    # The tree the assumed changes make on the base: the last commit their replay made.
    after_assumed = next((c[-1] for c in reversed(replayed[: len(assumed)]) if c), base)
    wrong = undisjoint_paths(
        differing=await _changed(repo, built, landed),
        own=await _changed(repo, after_assumed, built),
        moved=await _changed(repo, base, target),
    )
    if wrong:
        shown = ", ".join(wrong[:3]) + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
        return _outdated(f"the tree that would land differs from the built one at {shown}")
    return None


def undisjoint_paths(
    *, differing: Collection[str], own: Collection[str], moved: Collection[str]
) -> list[str]:
    """The paths where the landed tree differs from the built one (`differing`) for another
    reason than another lane's landing: a path the batch itself changed (`own`), or one the
    target did not change since the base (`moved`). Empty: the landing is disjoint."""
    return sorted(p for p in differing if p in own or p not in moved)


async def _changed(repo: GitRepo, old: str, new: str) -> frozenset[str]:
    # --no-renames: a rename is its two paths, so a path the build moved away still counts.
    out = await repo.run("diff", "--name-only", "-z", "--no-renames", old, new, "--")
    return frozenset(p for p in out.text.split("\0") if p)


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
    missing = await _find_base(repo, base, assumed, target=target)
    if missing is not None:
        return missing
    actual = (
        await repo.run("rev-list", "--first-parent", "--reverse", f"{base}..{target}")
    ).text.split()
    expected: list[str] = []
    if assumed:
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


async def _find_base(
    repo: GitRepo, base: str, assumed: Sequence[Planned], *, target: str
) -> MergeResult | None:
    """What both checks need first: the built base, an ancestor of `target`, and every assumed
    change's commit, fetched; otherwise the `OUTDATED` answer."""
    if not await repo.fetch_commit(base) or not await repo.is_ancestor(base, target):
        return _outdated(f"the target at {target[:12]} does not descend from the built base")
    for plan in assumed:
        if not await repo.fetch_commit(plan.sha, ref=plan.ref):
            return _outdated(f"cannot find {plan.label} to check the target against")
    return None


def _outdated(reason: str) -> MergeResult:
    return MergeResult(outcome=MergeOutcome.OUTDATED, reason=f"{reason}; building again")
