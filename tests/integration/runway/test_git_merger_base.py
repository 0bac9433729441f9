"""GitMerger lands on the base a build was made on, or that base plus exactly the queue's own
landings the build assumed, and answers `outdated` for any other target."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sq.platform.changeuri import branch_head_uri
from sq.platform.git.sandbox import GitSandbox
from sq.runway.extension.merger import Change, MergeInput, MergeOutcome, Strategy
from sq.runway.extension.merger.git import GitMerger

pytestmark = pytest.mark.anyio
MAIN = "refs/heads/main"


@pytest.fixture
def box(tmp_path: Path) -> GitSandbox:
    sandbox = GitSandbox(tmp_path / "box")
    sandbox.seed({"README.md": "hello\n"})
    return sandbox


@pytest.fixture
def merger(tmp_path: Path) -> GitMerger:
    return GitMerger(workspace_dir=tmp_path / "workspaces", max_attempts=3)


def branch(box: GitSandbox, name: str, *files: str) -> str:
    """`name` from the seed, one commit per file (so rebase lands several commits)."""
    box.checkout(name, box.git("rev-list", "--max-parents=0", "main").strip())
    for path in files:
        box.commit(f"{name}: {path}", {path: f"{name}\n"})
    box.push(name, force=True)
    return str(branch_head_uri(str(box.origin), name, box.head()))


def landing(
    box: GitSandbox,
    uri: str,
    *,
    base: str | None,
    assumed: tuple[str, ...] = (),
    strategy: Strategy = Strategy.SQUASH_REBASE,
) -> MergeInput:
    return MergeInput(
        id="q/batch/1",
        queue="q",
        repository=str(box.origin),
        target_ref=MAIN,
        strategy=strategy,
        changes=(Change(uri=uri),),
        base=base,
        assumed=tuple(Change(uri=a) for a in assumed),
    )


def outside_push(box: GitSandbox) -> str:
    box.checkout("main")
    box.git("pull", "--quiet", "--ff-only", "origin", "main")
    sha = box.commit("hotfix", {"hotfix.txt": "hot\n"})
    box.push("main")
    return sha


async def test_lands_on_the_base_it_was_built_on(box: GitSandbox, merger: GitMerger) -> None:
    base = box.origin_ref(MAIN)
    result = await merger.merge(landing(box, branch(box, "one", "one.txt"), base=base))
    assert result.outcome is MergeOutcome.MERGED


async def test_an_outside_push_since_the_build_is_outdated(
    box: GitSandbox, merger: GitMerger
) -> None:
    base = box.origin_ref(MAIN)
    uri = branch(box, "one", "one.txt")
    moved = outside_push(box)
    result = await merger.merge(landing(box, uri, base=base))
    assert result.outcome is MergeOutcome.OUTDATED
    assert box.origin_ref(MAIN) == moved
    assert (await merger.merge(landing(box, uri, base=moved))).outcome is MergeOutcome.MERGED


async def test_a_rewritten_target_is_outdated(box: GitSandbox, merger: GitMerger) -> None:
    outside_push(box)
    base = box.origin_ref(MAIN)
    box.git("reset", "--quiet", "--hard", "HEAD~1")
    box.commit("another hotfix", {"other.txt": "x\n"})
    box.push("main", force=True)
    result = await merger.merge(landing(box, branch(box, "one", "one.txt"), base=base))
    assert result.outcome is MergeOutcome.OUTDATED


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_the_base_plus_the_assumed_landings_is_exact_and_nothing_more(
    box: GitSandbox, merger: GitMerger, strategy: Strategy
) -> None:
    base = box.origin_ref(MAIN)
    first = branch(box, "first", "a.txt", "b.txt")
    second = branch(box, "second", "c.txt")
    landed = await merger.merge(landing(box, first, base=base, strategy=strategy))
    assert landed.outcome is MergeOutcome.MERGED
    on_top = landing(box, second, base=base, assumed=(first,), strategy=strategy)
    alone = dataclasses.replace(on_top, assumed=())
    assert (await merger.merge(alone)).outcome is MergeOutcome.OUTDATED
    outside = outside_push(box)
    assert (await merger.merge(on_top)).outcome is MergeOutcome.OUTDATED
    assert box.origin_ref(MAIN) == outside
    box.git("reset", "--quiet", "--hard", "HEAD~1")
    box.push("main", force=True)
    assert (await merger.merge(on_top)).outcome is MergeOutcome.MERGED
    again = await merger.merge(on_top)
    assert again.outcome is MergeOutcome.ALREADY_MERGED
