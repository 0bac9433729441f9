"""GitMerger's `disjoint` landing check on real git: a landing whose target moved since its build
lands when every change its build assumed is on the target and the tree that would land differs
from the built one only where the target moved, on paths the batch did not change; it is
`outdated` when it differs on a path the batch changed or an assumed change is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.changeuri import branch_head_uri
from sq.platform.git.sandbox import GitSandbox
from sq.runway.extension.merger import Change, LandingCheck, MergeInput, MergeOutcome, Strategy
from sq.runway.extension.merger._gitbase import undisjoint_paths
from sq.runway.extension.merger.git import GitMerger

pytestmark = pytest.mark.anyio
MAIN = "refs/heads/main"
LIB = "".join(f"line {n}\n" for n in range(1, 11))


@pytest.fixture
def box(tmp_path: Path) -> GitSandbox:
    sandbox = GitSandbox(tmp_path / "box")
    sandbox.seed({"README.md": "hello\n", "lib/code.txt": LIB})
    return sandbox


@pytest.fixture
def merger(tmp_path: Path) -> GitMerger:
    return GitMerger(workspace_dir=tmp_path / "workspaces", max_attempts=3)


def branch(box: GitSandbox, name: str, files: dict[str, str], *, start: str) -> str:
    """`name` on `start` with one commit of `files`, pushed; its change URI."""
    box.checkout(name, start)
    sha = box.commit(f"{name}: edit {', '.join(files)}", files)
    box.push(name)
    return str(branch_head_uri(str(box.origin), name, sha))


def landing(
    box: GitSandbox,
    uri: str,
    *,
    base: str,
    assumed: tuple[str, ...] = (),
    check: LandingCheck = LandingCheck.DISJOINT,
    strategy: Strategy = Strategy.REBASE,
) -> MergeInput:
    return MergeInput(
        id=f"q/{uri[-7:]}/1",
        queue="q",
        repository=str(box.origin),
        target_ref=MAIN,
        strategy=strategy,
        changes=(Change(uri=uri),),
        base=base,
        assumed=tuple(Change(uri=a) for a in assumed),
        landing_check=check,
    )


def outside_push(box: GitSandbox, files: dict[str, str]) -> str:
    box.checkout("main")
    box.git("pull", "--quiet", "--ff-only", "origin", "main")
    sha = box.commit("pushed from outside the queue", files)
    box.push("main")
    return sha


def edit_line(n: int, text: str) -> dict[str, str]:
    return {"lib/code.txt": LIB.replace(f"line {n}\n", f"{text}\n")}


def test_the_rule_accepts_only_paths_the_batch_left_and_the_target_moved() -> None:
    assert undisjoint_paths(differing={"b/y"}, own={"a/x"}, moved={"b/y"}) == []
    assert undisjoint_paths(differing={"a/x"}, own={"a/x"}, moved={"a/x"}) == ["a/x"]
    assert undisjoint_paths(differing={"c/z"}, own={"a/x"}, moved={"b/y"}) == ["c/z"]


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_an_independent_lane_lands_on_another_lanes_landing(
    box: GitSandbox, merger: GitMerger, strategy: Strategy
) -> None:
    base = box.origin_ref(MAIN)
    assert base is not None
    one = branch(box, "one", {"a/x.txt": "one\n"}, start=base)
    two = branch(box, "two", {"b/y.txt": "two\n"}, start=base)
    first = await merger.merge(landing(box, one, base=base, strategy=strategy))
    assert first.outcome is MergeOutcome.MERGED
    exact = landing(box, two, base=base, check=LandingCheck.EXACT, strategy=strategy)
    assert (await merger.merge(exact)).outcome is MergeOutcome.OUTDATED
    second = await merger.merge(landing(box, two, base=base, strategy=strategy))
    assert second.outcome is MergeOutcome.MERGED
    assert box.origin_file(MAIN, "a/x.txt") == "one\n"
    assert box.origin_file(MAIN, "b/y.txt") == "two\n"


async def test_a_path_both_lanes_changed_is_outdated(box: GitSandbox, merger: GitMerger) -> None:
    base = box.origin_ref(MAIN)
    assert base is not None
    one = branch(box, "one", edit_line(1, "one"), start=base)
    two = branch(box, "two", edit_line(9, "two"), start=base)
    assert (await merger.merge(landing(box, one, base=base))).outcome is MergeOutcome.MERGED
    landed = box.origin_ref(MAIN)
    result = await merger.merge(landing(box, two, base=base))
    assert result.outcome is MergeOutcome.OUTDATED
    assert "lib/code.txt" in result.reason
    assert box.origin_ref(MAIN) == landed


async def e_landed_then_d_and_h(box: GitSandbox, merger: GitMerger) -> tuple[str, str, str, str]:
    """The base and three branches on it: e (line 1 of lib/code.txt), landed; d (line 9), which
    conflicts with e; h (a/x.txt), which conflicts with neither."""
    base = box.origin_ref(MAIN)
    assert base is not None
    e = branch(box, "e", edit_line(1, "from e"), start=base)
    d = branch(box, "d", edit_line(9, "from d"), start=base)
    h = branch(box, "h", {"a/x.txt": "h\n"}, start=base)
    assert (await merger.merge(landing(box, e, base=base))).outcome is MergeOutcome.MERGED
    return base, e, d, h


async def test_a_path_only_an_assumed_landing_changed_lands_as_the_target_holds_it(
    box: GitSandbox, merger: GitMerger
) -> None:
    # e and d both edit lib/code.txt, so d was built on e; h (a/x.txt) depends on d alone, so
    # its build had d's line 9 without e's line 1. The landing holds both: lib/code.txt is what
    # d's landing made it (built by d), a/x.txt exactly as h's build had it.
    base, e, d, h = await e_landed_then_d_and_h(box, merger)
    on_e = landing(box, d, base=base, assumed=(e,))
    assert (await merger.merge(on_e)).outcome is MergeOutcome.MERGED
    on_d = landing(box, h, base=base, assumed=(d,))
    assert (await merger.merge(on_d)).outcome is MergeOutcome.MERGED
    landed = box.origin_file(MAIN, "lib/code.txt") or ""
    assert "from e\n" in landed and "from d\n" in landed
    assert box.origin_file(MAIN, "a/x.txt") == "h\n"


async def test_an_assumed_change_not_on_the_target_is_outdated_even_where_the_target_moved(
    box: GitSandbox, merger: GitMerger
) -> None:
    # d (line 9) is assumed by h but never landed, and e moved the same file: the path differs
    # only where the target moved, which the batch's own paths would allow, yet h would land
    # without a change its build had. Then d lands and is reverted from outside: the same.
    base, e, d, h = await e_landed_then_d_and_h(box, merger)
    on_d = landing(box, h, base=base, assumed=(d,))
    result = await merger.merge(on_d)
    assert result.outcome is MergeOutcome.OUTDATED
    assert "which the build assumed, is not on the target" in result.reason
    assert (await merger.merge(landing(box, d, base=base, assumed=(e,)))).outcome is (
        MergeOutcome.MERGED
    )
    outside_push(box, edit_line(1, "from e"))  # d's line 9 reverted by hand
    assert (await merger.merge(on_d)).outcome is MergeOutcome.OUTDATED
    assert box.origin_file(MAIN, "a/x.txt") is None


async def test_a_missing_assumed_landing_is_outdated(box: GitSandbox, merger: GitMerger) -> None:
    base = box.origin_ref(MAIN)
    assert base is not None
    lib = branch(box, "lib", {"a/lib.txt": "lib\n"}, start=base)
    use = branch(box, "use", {"b/use.txt": "use\n"}, start=base)
    on_lib = landing(box, use, base=base, assumed=(lib,))
    assert (await merger.merge(on_lib)).outcome is MergeOutcome.OUTDATED
    assert box.origin_ref(MAIN) == base
    assert (await merger.merge(landing(box, lib, base=base))).outcome is MergeOutcome.MERGED
    outside_push(box, {"c/other.txt": "other\n"})
    assert (await merger.merge(on_lib)).outcome is MergeOutcome.MERGED


async def test_an_outside_push_on_a_path_the_build_changed_is_outdated(
    box: GitSandbox, merger: GitMerger
) -> None:
    base = box.origin_ref(MAIN)
    assert base is not None
    change = branch(box, "change", edit_line(1, "change"), start=base)
    moved = outside_push(box, edit_line(9, "hotfix"))
    result = await merger.merge(landing(box, change, base=base))
    assert result.outcome is MergeOutcome.OUTDATED
    assert box.origin_ref(MAIN) == moved
    assert (await merger.merge(landing(box, change, base=moved))).outcome is MergeOutcome.MERGED


async def test_an_outside_push_on_other_paths_lands_with_it(
    box: GitSandbox, merger: GitMerger
) -> None:
    base = box.origin_ref(MAIN)
    assert base is not None
    change = branch(box, "change", edit_line(1, "change"), start=base)
    moved = outside_push(box, {"hotfix.txt": "hot\n"})
    result = await merger.merge(landing(box, change, base=base))
    assert result.outcome is MergeOutcome.MERGED
    assert box.git("rev-parse", f"{MAIN}~1", cwd=box.origin).strip() == moved
    assert box.origin_file(MAIN, "hotfix.txt") == "hot\n"


async def test_a_rewritten_target_is_outdated(box: GitSandbox, merger: GitMerger) -> None:
    outside_push(box, {"hotfix.txt": "hot\n"})
    base = box.origin_ref(MAIN)
    assert base is not None
    change = branch(box, "change", {"a/x.txt": "x\n"}, start=base)
    box.checkout("main")
    box.git("reset", "--quiet", "--hard", "HEAD~1")
    box.commit("another hotfix", {"other.txt": "x\n"})
    box.push("main", force=True)
    assert (await merger.merge(landing(box, change, base=base))).outcome is MergeOutcome.OUTDATED
