"""GitMerger against a real bare origin: strategies, stacks, staleness, conflicts, contention."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from sq.platform.changeuri import branch_head_uri
from sq.platform.git import GitRepo
from sq.platform.git.sandbox import GitSandbox
from sq.runway.extension.merger import Change, MergeInput, MergeOutcome, MergeResult, Strategy
from sq.runway.extension.merger.git import GitMerger

BOB = ("Bob Builder", "bob@example.com")
MAIN = "refs/heads/main"


@pytest.fixture
def box(tmp_path: Path) -> GitSandbox:
    sandbox = GitSandbox(tmp_path / "box")
    sandbox.seed({"README.md": "hello\n", "shared.txt": "one\ntwo\nthree\n"})
    return sandbox


@pytest.fixture
def merger(tmp_path: Path) -> GitMerger:
    return GitMerger(workspace_dir=tmp_path / "workspaces", max_attempts=3)


def branch(
    box: GitSandbox, name: str, commits: dict[str, dict[str, str]], start: str = "main"
) -> str:
    """Create `name` from `start` with one commit per entry, push it, and return its change URI."""
    box.checkout(name, box.origin_ref(f"refs/heads/{start}") or start)
    for message, files in commits.items():
        box.commit(message, files, author=BOB)
    box.push(name, force=True)
    return str(branch_head_uri(str(box.origin), name, box.head()))


def request(
    box: GitSandbox,
    *uris: str,
    strategy: Strategy = Strategy.REBASE,
    dry_run: bool = False,
    update_head_branches: bool = False,
) -> MergeInput:
    return MergeInput(
        id="q/batch/1",
        queue="q",
        repository=str(box.origin),
        target_ref=MAIN,
        strategy=strategy,
        changes=tuple(Change(uri=u) for u in uris),
        dry_run=dry_run,
        update_head_branches=update_head_branches,
    )


def land(merger: GitMerger, req: MergeInput) -> MergeResult:
    return asyncio.run(merger.merge(req))


def move_main(box: GitSandbox, message: str, files: dict[str, str]) -> str:
    box.checkout("main", box.origin_ref(MAIN))
    sha = box.commit(message, files)
    box.push("main")
    return sha


def test_rebase_replays_each_commit_on_the_moved_target(box: GitSandbox, merger: GitMerger) -> None:
    uri = branch(box, "feature", {"f1": {"f.txt": "1\n"}, "f2": {"f.txt": "2\n"}})
    move_main(box, "meanwhile", {"m.txt": "m\n"})
    result = land(merger, request(box, uri))
    assert result.outcome is MergeOutcome.MERGED, result.reason
    assert box.origin_subjects(MAIN) == ["f2", "f1", "meanwhile", "seed the sandbox"]
    assert result.target_sha == box.origin_ref(MAIN)
    [change] = result.changes
    assert change.uri == uri
    assert len(change.landed) == 2
    assert change.landed[-1] == result.target_sha
    author, committer = box.git("show", "-s", "--format=%ae %ce", MAIN, cwd=box.origin).split()
    assert (author, committer) == ("bob@example.com", "runway@submitqueue.invalid")
    assert box.origin_file(MAIN, "f.txt") == "2\n"


def test_squash_rebase_lands_one_commit_authored_as_the_head(
    box: GitSandbox, merger: GitMerger
) -> None:
    uri = branch(box, "feature", {"f1": {"f.txt": "1\n"}, "f2": {"g.txt": "2\n"}})
    result = land(merger, request(box, uri, strategy=Strategy.SQUASH_REBASE))
    assert result.outcome is MergeOutcome.MERGED, result.reason
    assert box.origin_subjects(MAIN) == ["f1", "seed the sandbox"]
    assert len(result.changes[0].landed) == 1
    body = box.git("show", "-s", "--format=%ae%n%B", MAIN, cwd=box.origin)
    assert body.startswith("bob@example.com\nf1\n")
    assert "* f2" in body
    assert box.origin_file(MAIN, "f.txt") == "1\n"
    assert box.origin_file(MAIN, "g.txt") == "2\n"


def test_merge_records_a_merge_commit_per_change(box: GitSandbox, merger: GitMerger) -> None:
    uri = branch(box, "feature", {"f1": {"f.txt": "1\n"}})
    head = box.head()
    before = move_main(box, "meanwhile", {"m.txt": "m\n"})
    result = land(merger, request(box, uri, strategy=Strategy.MERGE))
    assert result.outcome is MergeOutcome.MERGED, result.reason
    parents = box.git("show", "-s", "--format=%P %ae", MAIN, cwd=box.origin).split()
    assert parents == [before, head, "bob@example.com"]
    subject = box.origin_subjects(MAIN)[0]
    assert subject.startswith("Merge ")
    assert subject.endswith("/box/origin@feature")


def test_a_stack_lands_in_order_in_one_ref_update(box: GitSandbox, merger: GitMerger) -> None:
    s1 = branch(box, "s1", {"s1": {"s.txt": "1\n"}})
    s2 = branch(box, "s2", {"s2": {"s.txt": "2\n"}}, start="s1")
    s3 = branch(box, "s3", {"s3a": {"t.txt": "3\n"}, "s3b": {"t.txt": "3b\n"}}, start="s2")
    updates = box.reflog_length(MAIN)
    result = land(merger, request(box, s1, s2, s3))
    assert result.outcome is MergeOutcome.MERGED, result.reason
    assert box.origin_subjects(MAIN) == ["s3b", "s3a", "s2", "s1", "seed the sandbox"]
    assert box.reflog_length(MAIN) == updates + 1
    assert [len(c.landed) for c in result.changes] == [1, 1, 2]


def test_head_branches_move_to_their_landed_commits(box: GitSandbox, merger: GitMerger) -> None:
    a = branch(box, "a", {"a": {"a.txt": "a\n"}})
    b = branch(box, "b", {"b": {"b.txt": "b\n"}})
    move_main(box, "meanwhile", {"m.txt": "m\n"})
    result = land(merger, request(box, a, b, update_head_branches=True))
    assert result.outcome is MergeOutcome.MERGED, result.reason
    for name, change in zip("ab", result.changes, strict=True):
        assert box.origin_ref(f"refs/heads/{name}") == change.landed[-1]
    assert box.origin_ref(MAIN) == result.changes[1].landed[-1]


def test_a_change_whose_branch_moved_is_stale(box: GitSandbox, merger: GitMerger) -> None:
    uri = branch(box, "feature", {"f1": {"f.txt": "1\n"}})
    box.commit("f2", {"f.txt": "2\n"})
    box.push("feature")
    before = box.origin_ref(MAIN)
    result = land(merger, request(box, uri))
    assert result.outcome is MergeOutcome.STALE
    assert result.failed_change == uri
    assert "stale" in result.reason
    assert box.origin_ref(MAIN) == before


def test_a_conflict_fails_and_leaves_the_target_untouched(
    box: GitSandbox, merger: GitMerger
) -> None:
    first = branch(box, "first", {"first": {"shared.txt": "one\nFIRST\nthree\n"}})
    second = branch(box, "second", {"second": {"shared.txt": "one\nSECOND\nthree\n"}})
    loser = box.origin_ref("refs/heads/second")
    assert land(merger, request(box, first)).outcome is MergeOutcome.MERGED
    landed = box.origin_ref(MAIN)
    result = land(merger, request(box, second))
    assert result.outcome is MergeOutcome.CONFLICT
    assert result.failed_change == second
    assert "shared.txt" in result.reason
    assert box.origin_ref(MAIN) == landed
    assert box.origin_file(MAIN, "shared.txt") == "one\nFIRST\nthree\n"
    assert box.origin_ref("refs/heads/second") == loser


@pytest.mark.parametrize("strategy", list(Strategy))
@pytest.mark.parametrize("update_heads", [False, True])
def test_landing_again_is_already_merged_without_a_push(
    box: GitSandbox, merger: GitMerger, strategy: Strategy, update_heads: bool
) -> None:
    uri = branch(box, "feature", {"f1": {"f.txt": "1\n"}, "f2": {"f.txt": "2\n"}})
    req = request(box, uri, strategy=strategy, update_head_branches=update_heads)
    assert land(merger, req).outcome is MergeOutcome.MERGED
    updates = box.reflog_length(MAIN)
    again = land(merger, req)
    assert again.outcome is MergeOutcome.ALREADY_MERGED, again.reason
    assert again.changes[0].landed == ()
    assert box.reflog_length(MAIN) == updates


def test_dry_run_checks_without_touching_the_origin(box: GitSandbox, merger: GitMerger) -> None:
    good = branch(box, "good", {"g": {"shared.txt": "one\nGOOD\nthree\n"}})
    bad = branch(box, "bad", {"b": {"shared.txt": "one\nBAD\nthree\n"}})
    refs = box.git("for-each-ref", cwd=box.origin)
    check = land(merger, request(box, good, dry_run=True))
    assert check.outcome is MergeOutcome.MERGEABLE, check.reason
    assert check.changes[0].landed == ()
    assert check.target_sha == box.origin_ref(MAIN)
    conflict = land(merger, request(box, good, bad, dry_run=True))
    assert conflict.outcome is MergeOutcome.CONFLICT
    assert conflict.failed_change == bad
    assert box.git("for-each-ref", cwd=box.origin) == refs


def test_invalid_requests(box: GitSandbox, merger: GitMerger, tmp_path: Path) -> None:
    uri = branch(box, "feature", {"f1": {"f.txt": "1\n"}})
    unknown = uri.rsplit("/", 1)[0] + "/" + "f" * 40
    other = GitSandbox(tmp_path / "other")
    other.seed({"x.txt": "x\n"})
    other.git("push", "--quiet", str(box.origin), "HEAD:refs/heads/unrelated")
    unrelated = str(branch_head_uri(str(box.origin), "unrelated", other.head()))
    cases = {
        unknown: "is not in",
        "fake://demo/x": "fake change",
        "https://github.com/o/r/pull/1": "not pinned",
        "git://h/r/refs/heads/x/y": "invalid change URI",
        unrelated: "shares no history",
    }
    for bad, reason in cases.items():
        result = land(merger, request(box, uri, bad))
        assert result.outcome is MergeOutcome.INVALID, bad
        assert reason in result.reason
        assert result.failed_change == bad
    missing = dataclasses.replace(request(box, uri), target_ref="refs/heads/nope")
    assert land(merger, missing).outcome is MergeOutcome.INVALID
    assert land(merger, request(box)).outcome is MergeOutcome.INVALID


def _install_pre_push(merger: GitMerger, box: GitSandbox, script: str) -> None:
    """A hook in the merger's workspace that runs between its fetch and its push."""
    path = merger.workspace_path("q")
    asyncio.run(GitRepo.open_workspace(path, str(box.origin)))
    hook = path / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        f"echo run >> {box.root}/hook-runs\n"
        "G='env -i PATH=/usr/bin:/bin GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git "
        f"-c user.name=Eve -c user.email=eve@example.com -C {box.work}'\n" + script
    )
    hook.chmod(0o755)


def test_retries_when_the_target_moves_between_fetch_and_push(
    box: GitSandbox, merger: GitMerger
) -> None:
    uri = branch(box, "feature", {"f1": {"f.txt": "1\n"}})
    box.checkout("main", box.origin_ref(MAIN))
    concurrent = box.commit("concurrent", {"c.txt": "c\n"})
    moved = box.root / "moved"
    push_once = f"[ -e {moved} ] || {{ touch {moved}; $G push -q origin {concurrent}:{MAIN}; }}\n"
    _install_pre_push(merger, box, push_once)
    result = land(merger, request(box, uri))
    assert result.outcome is MergeOutcome.MERGED, result.reason
    assert box.origin_subjects(MAIN) == ["f1", "concurrent", "seed the sandbox"]
    assert (box.root / "hook-runs").read_text().count("run") == 2


def test_gives_up_with_retry_when_the_target_keeps_moving(
    box: GitSandbox, merger: GitMerger
) -> None:
    uri = branch(box, "feature", {"f1": {"f.txt": "1\n"}})
    box.checkout("main", box.origin_ref(MAIN))
    _install_pre_push(
        merger, box, f"$G commit -q --allow-empty -m bump && $G push -q origin HEAD:{MAIN}\n"
    )
    result = land(merger, request(box, uri))
    assert result.outcome is MergeOutcome.RETRY
    assert "3 attempts" in result.reason
    assert "f1" not in box.origin_subjects(MAIN)
    assert (box.root / "hook-runs").read_text().count("run") == 3


def test_requests_of_one_queue_are_serialized(box: GitSandbox, merger: GitMerger) -> None:
    a = branch(box, "a", {"a": {"a.txt": "a\n"}})
    b = branch(box, "b", {"b": {"b.txt": "b\n"}})
    updates = box.reflog_length(MAIN)

    async def both() -> list[MergeResult]:
        return list(
            await asyncio.gather(merger.merge(request(box, a)), merger.merge(request(box, b)))
        )

    results = asyncio.run(both())
    assert [r.outcome for r in results] == [MergeOutcome.MERGED, MergeOutcome.MERGED]
    assert box.reflog_length(MAIN) == updates + 2
    assert sorted(box.origin_subjects(MAIN)[:2]) == ["a", "b"]
