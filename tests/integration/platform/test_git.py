"""The git layer against real throwaway repositories."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from sq.platform.git import (
    ABSENT,
    ChangeCommits,
    Conflict,
    GitError,
    GitRepo,
    GitTimeoutError,
    PreparedTree,
    PushStatus,
    RefUpdate,
    Replay,
    TreeConflict,
    changed_paths,
    locks,
    prepare_tree,
    push,
    run_git,
    temporary_worktree,
)
from sq.platform.git.sandbox import GitSandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> GitSandbox:
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n", "lib/a.txt": "a1\na2\na3\n"})
    return box


FETCH_MAIN = "+refs/heads/main:refs/sq/main"


def workspace(box: GitSandbox) -> GitRepo:
    return asyncio.run(GitRepo.open_workspace(box.root / "ws", str(box.origin)))


def test_git_error_carries_argv_exit_code_and_stderr(tmp_path: Path) -> None:
    with pytest.raises(GitError) as caught:
        asyncio.run(run_git(["rev-parse", "--verify", "nope"], cwd=tmp_path))
    error = caught.value
    assert error.argv[-3:] == ("rev-parse", "--verify", "nope")
    assert error.returncode == 128
    assert "not a git repository" in error.stderr
    assert "exited 128" in str(error)


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    script = tmp_path / "slowgit"
    script.write_text("#!/bin/sh\nsleep 60 &\nwait\n")
    script.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(GitTimeoutError) as caught:
        asyncio.run(run_git(["status"], timeout_s=0.2, executable=str(script)))
    # The grandchild holds the pipes open; only killing the group lets this return promptly.
    assert time.monotonic() - started < 30
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.returncode is None


def test_environment_from_a_hook_does_not_redirect_commands(
    sandbox: GitSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = GitSandbox(tmp_path / "other")
    other.seed()
    monkeypatch.setenv("GIT_DIR", str(other.origin))
    repo = GitRepo(sandbox.origin)
    assert asyncio.run(repo.resolve("refs/heads/main")) == sandbox.origin_ref("refs/heads/main")


def test_reading_history(sandbox: GitSandbox) -> None:
    seed = sandbox.head()
    sandbox.checkout("feature", seed)
    one = sandbox.commit("one", {"x.txt": "1\n"})
    two = sandbox.commit("two", {"x.txt": "2\n"})
    sandbox.checkout("main")
    side = sandbox.commit("side", {"y.txt": "y\n"})
    sandbox.git("merge", "--quiet", "--no-ff", "-m", "merge feature", "feature")
    merge = sandbox.head()
    repo = GitRepo(sandbox.work)

    async def scenario() -> None:
        assert await repo.resolve("feature") == two
        assert await repo.resolve("refs/heads/missing") is None
        assert await repo.is_ancestor(one, two)
        assert not await repo.is_ancestor(two, one)
        assert await repo.merge_base(two, side) == seed
        assert await repo.commits(two, exclude=[seed]) == [one, two]
        in_order = await repo.commits(merge, exclude=[seed])
        assert in_order.index(one) < in_order.index(two) < in_order.index(merge)
        assert merge not in await repo.commits(merge, exclude=[seed], merges=False)
        info = await repo.commit_info(two)
        assert (info.subject, info.parents, info.author_email) == (
            "two",
            (one,),
            "alice@example.com",
        )
        assert await repo.contains_change(merge, two)
        assert not await repo.contains_change(side, two)
        with pytest.raises(ValueError, match="not a revision"):
            await repo.resolve("--output=x")

    asyncio.run(scenario())


def test_changed_paths_and_sizes(sandbox: GitSandbox) -> None:
    base = sandbox.head()
    sandbox.git("mv", "lib/a.txt", "lib/renamed.txt")
    head = sandbox.commit(
        "change",
        {"README.md": "hello\nworld\n", "new.txt": "n\n", "lib/renamed.txt": "a1\na2\na3\na4\n"},
    )
    (sandbox.work / "blob.bin").write_bytes(b"\0\1\2")
    head = sandbox.commit("binary")
    stat = asyncio.run(changed_paths(GitRepo(sandbox.work), base, head))
    by_path = {f.path: f for f in stat.files}
    assert set(by_path) == {"README.md", "new.txt", "lib/renamed.txt", "blob.bin"}
    assert (by_path["README.md"].added, by_path["README.md"].deleted) == (1, 0)
    assert by_path["lib/renamed.txt"].old_path == "lib/a.txt"
    assert by_path["lib/renamed.txt"].added == 1
    assert by_path["blob.bin"].binary
    assert stat.lines_changed == 3
    everything = asyncio.run(changed_paths(GitRepo(sandbox.work), None, base))
    assert set(everything.paths) == {"README.md", "lib/a.txt"}


def test_workspace_fetches_refs_and_commits_by_sha(sandbox: GitSandbox) -> None:
    sandbox.checkout("gone", sandbox.head())
    orphan = sandbox.commit("only on a deleted branch", {"g.txt": "g\n"})
    sandbox.push("gone")
    sandbox.git("push", "--quiet", "origin", ":refs/heads/gone")
    repo = workspace(sandbox)

    async def scenario() -> None:
        again = await GitRepo.open_workspace(repo.path, str(sandbox.origin))
        advertised = await again.ls_remote(["refs/heads/main", "refs/heads/gone"])
        assert advertised == {"refs/heads/main": sandbox.origin_ref("refs/heads/main")}
        await repo.fetch([FETCH_MAIN])
        assert await repo.resolve("refs/sq/main") == advertised["refs/heads/main"]
        assert await repo.fetch_commit(orphan, ref="refs/heads/gone", local_ref="refs/sq/keep")
        assert await repo.resolve("refs/sq/keep") == orphan
        assert not await repo.fetch_commit("f" * 40)

    asyncio.run(scenario())


def test_reopening_a_workspace_writes_only_a_setting_that_changed(
    sandbox: GitSandbox, tmp_path: Path
) -> None:
    # A config lock left by a git killed mid-write (our process was SIGKILLed) must not stop every
    # later open of the workspace: an open that finds its settings in place writes nothing.
    repo = workspace(sandbox)
    (repo.path / "config.lock").write_text("")

    async def scenario() -> None:
        again = await GitRepo.open_workspace(repo.path, str(sandbox.origin))
        assert await again.ls_remote(["refs/heads/main"])
        (repo.path / "config.lock").unlink()
        moved = tmp_path / "moved.git"
        sandbox.origin.rename(moved)
        await GitRepo.open_workspace(repo.path, str(moved))
        url = await repo.run("config", "--get", "remote.origin.url")
        assert url.text.strip() == str(moved)

    asyncio.run(scenario())


def ref_lock(repo: GitRepo) -> Path:
    """Where git locks `refs/sq/main` (what `FETCH_MAIN` writes), its folder made."""
    lock = repo.path / "refs" / "sq" / "main.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    return lock


def test_a_lock_file_left_by_a_killed_git_is_cleared_and_the_command_runs_again(
    sandbox: GitSandbox,
) -> None:
    repo = workspace(sandbox)
    stale = ref_lock(repo)
    stale.write_text("")  # written before this process started: its writer died with the last one
    written = locks.STARTED_AT - locks.MIN_AGE_S
    os.utime(stale, (written, written))

    async def scenario() -> None:
        await repo.fetch([FETCH_MAIN])
        assert await repo.resolve("refs/sq/main") == sandbox.origin_ref("refs/heads/main")

    asyncio.run(scenario())
    assert not stale.exists()


def test_a_lock_a_running_git_may_hold_is_waited_for_never_removed(
    sandbox: GitSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lock is old enough and predates this "process": only its holder keeps it.
    monkeypatch.setattr(locks, "MIN_AGE_S", 0.0)
    monkeypatch.setattr(locks, "STARTED_AT", time.time() + 100)
    repo = workspace(sandbox)
    held = ref_lock(repo)

    async def scenario() -> None:
        with locks.RUNNING.command(repo.path):  # a command of ours that started before the lock
            held.write_text("")
            with pytest.raises(GitError, match="File exists"):
                await repo.run("fetch", "origin", FETCH_MAIN, timeout_s=0.3)
            assert held.exists()
            fetching = asyncio.create_task(repo.fetch([FETCH_MAIN]))
            await asyncio.sleep(0.3)
            assert not fetching.done()  # waiting for the holder
            held.unlink()  # the holder is done with it
            await fetching
        assert await repo.resolve("refs/sq/main") == sandbox.origin_ref("refs/heads/main")

    asyncio.run(scenario())


def test_a_young_lock_nobody_here_holds_is_waited_for_until_it_is_old(
    sandbox: GitSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A git our previous incarnation started may outlive it and still be finishing with the lock.
    monkeypatch.setattr(locks, "MIN_AGE_S", 1.0)
    monkeypatch.setattr(locks, "STARTED_AT", time.time() + 100)
    repo = workspace(sandbox)
    young = ref_lock(repo)

    async def scenario() -> None:
        young.write_text("")
        fetching = asyncio.create_task(repo.fetch([FETCH_MAIN]))
        await asyncio.sleep(0.5)
        assert not fetching.done() and young.exists()
        await fetching
        assert not young.exists()

    asyncio.run(scenario())


def test_a_lock_written_since_this_process_started_is_left_to_its_writer(
    sandbox: GitSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A build's command may run git in its worktree: a lock no git of ours holds is not dead
    # until it is older than any git of ours may run (one we killed on its timeout).
    monkeypatch.setattr(locks, "MIN_AGE_S", 0.0)
    repo = workspace(sandbox)
    theirs = ref_lock(repo)

    async def scenario() -> None:
        theirs.write_text("")
        with pytest.raises(GitError, match="File exists"):
            await repo.run("fetch", "origin", FETCH_MAIN, timeout_s=0.5)
        assert theirs.exists()
        monkeypatch.setattr(locks, "STALE_AFTER_S", 0.0)
        await repo.fetch([FETCH_MAIN])
        assert not theirs.exists()

    asyncio.run(scenario())


def test_a_lock_outside_the_repository_is_never_touched(sandbox: GitSandbox) -> None:
    # The remote's own lock (a local remote's receive-pack writes it) is not ours to clear.
    repo = workspace(sandbox)
    theirs = sandbox.origin / "refs" / "heads" / "main.lock"
    theirs.write_text("")

    async def scenario() -> None:
        await repo.fetch(["+refs/heads/main:refs/sq/x"])
        tip = await repo.run("commit-tree", "-m", "y", "-p", "refs/sq/x", "refs/sq/x^{tree}")
        with pytest.raises(GitError) as refused:
            await repo.run("push", "origin", f"{tip.text.strip()}:refs/heads/main")
        assert "main.lock" in refused.value.stderr

    asyncio.run(scenario())
    assert theirs.exists()


def test_fetch_from_an_unreachable_remote_raises(tmp_path: Path) -> None:
    async def scenario() -> None:
        repo = await GitRepo.open_workspace(tmp_path / "ws", str(tmp_path / "missing.git"))
        with pytest.raises(GitError, match="cannot reach remote"):
            await repo.fetch_commit("f" * 40)

    asyncio.run(scenario())


def test_push_is_a_compare_and_swap(sandbox: GitSandbox) -> None:
    main = sandbox.head()
    later = sandbox.commit("later", {"l.txt": "l\n"})
    sandbox.checkout("other", main)
    other = sandbox.commit("other", {"o.txt": "o\n"})
    repo = GitRepo(sandbox.work)

    async def scenario() -> None:
        stale = await push(repo, [RefUpdate(ref="refs/heads/main", new=later, expected=other)])
        assert [r.status for r in stale.refs] == [PushStatus.MOVED]
        assert stale.moved
        assert not stale.ok
        fast = await push(repo, [RefUpdate(ref="refs/heads/main", new=later, expected=main)])
        assert fast.ok
        not_ff = await push(repo, [RefUpdate(ref="refs/heads/main", new=other)])
        assert not_ff.moved
        both = await push(
            repo,
            [
                RefUpdate(ref="refs/heads/new", new=other, expected=ABSENT),
                RefUpdate(ref="refs/heads/main", new=other, expected=main),
            ],
        )
        assert not both.ok
        assert sandbox.origin_ref("refs/heads/new") is None
        created = await push(repo, [RefUpdate(ref="refs/heads/new", new=other, expected=ABSENT)])
        assert created.ok
        again = await push(repo, [RefUpdate(ref="refs/heads/new", new=other)])
        assert [r.status for r in again.refs] == [PushStatus.UP_TO_DATE]

    asyncio.run(scenario())
    assert sandbox.origin_ref("refs/heads/main") == later
    assert sandbox.origin_ref("refs/heads/new") == other


def _changes(sandbox: GitSandbox) -> tuple[str, ChangeCommits, ChangeCommits, ChangeCommits]:
    base = sandbox.head()
    sandbox.checkout("a", base)
    a1 = sandbox.commit("a1", {"a.txt": "a\n"})
    a2 = sandbox.commit("a2", {"a.txt": "a\nmore\n"})
    sandbox.checkout("b", base)
    b1 = sandbox.commit("b1", {"lib/a.txt": "a1\nB\na3\n"})
    sandbox.checkout("c", base)
    c1 = sandbox.commit("c1", {"lib/a.txt": "a1\nC\na3\n"})
    return (
        base,
        ChangeCommits(name="A", commits=(a1, a2)),
        ChangeCommits(name="B", commits=(b1,)),
        ChangeCommits(name="C", commits=(c1,)),
    )


def test_prepare_tree_builds_target_then_changes_then_head(sandbox: GitSandbox) -> None:
    base, a, b, _ = _changes(sandbox)
    repo = GitRepo(sandbox.work)
    refs_before = sandbox.git("for-each-ref")

    async def scenario() -> PreparedTree:
        prepared = await prepare_tree(repo, base=base, changes=[a], head=b)
        assert isinstance(prepared, PreparedTree)
        return prepared

    prepared = asyncio.run(scenario())
    try:
        assert (prepared.path / "a.txt").read_text() == "a\nmore\n"
        assert (prepared.path / "lib/a.txt").read_text() == "a1\nB\na3\n"
        assert [len(c) for c in prepared.created] == [2, 1]
        assert prepared.sha == prepared.created[-1][-1]
        subjects = sandbox.git("log", "--format=%s", f"{base}..{prepared.sha}").split()
        assert subjects == ["b1", "a2", "a1"]
    finally:
        asyncio.run(prepared.remove())
    assert not prepared.path.exists()
    assert sandbox.git("for-each-ref") == refs_before


def test_prepare_tree_skips_a_change_the_base_already_holds_squashed(sandbox: GitSandbox) -> None:
    # A landed (squashed into one commit) after the path assuming it was planned: replaying A's
    # first commit alone would be an add/add conflict on a.txt.
    base, a, b, _ = _changes(sandbox)
    sandbox.checkout("landed", base)
    landed = sandbox.commit("A, squashed", {"a.txt": "a\nmore\n"})
    repo = GitRepo(sandbox.work)

    async def scenario() -> PreparedTree:
        prepared = await prepare_tree(repo, base=landed, changes=[a], head=b)
        assert isinstance(prepared, PreparedTree)
        return prepared

    prepared = asyncio.run(scenario())
    try:
        assert [len(c) for c in prepared.created] == [0, 1]
        assert (prepared.path / "a.txt").read_text() == "a\nmore\n"
        assert (prepared.path / "lib/a.txt").read_text() == "a1\nB\na3\n"
    finally:
        asyncio.run(prepared.remove())


def test_prepare_tree_reports_the_conflicting_change(sandbox: GitSandbox) -> None:
    base, a, b, c = _changes(sandbox)
    repo = GitRepo(sandbox.work)
    result = asyncio.run(prepare_tree(repo, base=base, changes=[a, b], head=c))
    assert isinstance(result, TreeConflict)
    assert (result.change, result.commit, result.paths) == ("C", c.commits[0], ("lib/a.txt",))
    assert "change C conflicts" in result.reason
    assert "sq-worktrees" not in sandbox.git("worktree", "list")


def test_replay_skips_commits_already_present(sandbox: GitSandbox) -> None:
    base, _, b, c = _changes(sandbox)
    sandbox.checkout("copy", base)
    copied = sandbox.commit("same edit as b1, made separately", {"lib/a.txt": "a1\nB\na3\n"})
    repo = GitRepo(sandbox.work)

    async def scenario() -> None:
        async with temporary_worktree(repo, copied) as worktree:
            replay = await worktree.replay(b.commits)
            assert replay == Replay()
            assert await worktree.head() == copied
            conflicted = await worktree.replay(c.commits)
            assert conflicted.conflict == Conflict(commit=c.commits[0], paths=("lib/a.txt",))
            assert await worktree.head() == copied
            status = await worktree.git.run("status", "--porcelain")
            assert status.text == ""
        assert not worktree.path.exists()

    asyncio.run(scenario())
