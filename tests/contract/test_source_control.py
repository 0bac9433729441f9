"""Stovepipe's SourceControl seam behind one contract: every test runs on the fake and on git.

A world holds one queue's repository: `commit` adds a commit on the queue's ref (as a developer's
push would), `rewrite` force-pushes a new history on top of an older commit. Commits become known
to a SourceControl once its `latest()` has seen them, as they do to the poller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import pytest

from sq.platform.git.sandbox import GitSandbox
from sq.stovepipe.extension.sourcecontrol import (
    InvalidURIError,
    NotFoundError,
    SourceControl,
    UnreachableError,
)
from sq.stovepipe.extension.sourcecontrol.fake import FakeSourceControl
from sq.stovepipe.extension.sourcecontrol.git import GitSourceControl

pytestmark = pytest.mark.anyio

QUEUE_PROMOTION = "refs/heads/verified"
PROJECT_PROMOTION = "refs/heads/verified-a"


class World(Protocol):
    @property
    def sc(self) -> SourceControl: ...

    def commit(self, name: str, files: Iterable[str] = ()) -> None: ...

    def rewrite(self, onto: str, *names: str) -> None: ...

    def sha(self, uri: str) -> str: ...

    def cut(self) -> SourceControl:
        """A SourceControl of the same queue whose repository cannot be reached."""
        ...


class FakeWorld:
    def __init__(self, seeded: bool) -> None:
        self.sc = FakeSourceControl()
        self.sc.refs = {"": QUEUE_PROMOTION, "a": PROJECT_PROMOTION}
        self._n = 0
        if seeded:
            self.commit("seed", ["README.md"])

    def _uri(self, name: str) -> str:
        self._n += 1
        sha = hashlib.sha1(f"{name}/{self._n}".encode()).hexdigest()
        return f"fake://example.com/repo/{sha}"

    def commit(self, name: str, files: Iterable[str] = ()) -> None:
        self.sc.push(self._uri(name), files=files)

    def rewrite(self, onto: str, *names: str) -> None:
        kept = self.sc.history_uris[self.sc.history_uris.index(onto) :]
        self.sc.rewrite([self._uri(n) for n in reversed(names)] + kept)

    def sha(self, uri: str) -> str:
        return uri.rsplit("/", 1)[1]

    def cut(self) -> SourceControl:
        self.sc.unreachable = True
        return self.sc


class GitWorld:
    def __init__(self, root: Path, seeded: bool) -> None:
        self.root = root
        self.git = GitSandbox(root / "repo")
        if seeded:
            self.git.seed()
        self.sc = self._source_control(str(self.git.origin), "workspace")

    def _source_control(self, repository: str, workspace: str) -> GitSourceControl:
        return GitSourceControl(
            repository=repository,
            ref="refs/heads/main",
            workspace=self.root / workspace,
            promotion_ref=QUEUE_PROMOTION,
            project_refs={"a": PROJECT_PROMOTION},
        )

    def commit(self, name: str, files: Iterable[str] = ()) -> None:
        self.git.commit(name, dict.fromkeys(files, f"{name}\n"))
        self.git.push("main")

    def rewrite(self, onto: str, *names: str) -> None:
        self.git.checkout("main", self.sha(onto))
        for name in names:
            self.git.commit(name)
        self.git.push("main", force=True)

    def sha(self, uri: str) -> str:
        return uri.rsplit("/", 1)[1]

    def cut(self) -> SourceControl:
        return self._source_control(str(self.root / "gone.git"), "workspace-cut")


@pytest.fixture(params=["fake", "git"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def world_of(kind: str, tmp_path: Path, *, seeded: bool = True) -> World:
    return FakeWorld(seeded) if kind == "fake" else GitWorld(tmp_path, seeded)


@pytest.fixture
def world(kind: str, tmp_path: Path) -> World:
    return world_of(kind, tmp_path)


async def pushed(world: World, *names: str) -> list[str]:
    """Commit `names` one by one; their URIs, oldest first."""
    uris = []
    for name in names:
        world.commit(name, [f"{name}.txt"])
        uris.append(await world.sc.latest())
    return uris


async def test_latest_names_the_newest_commit_and_follows_pushes(world: World) -> None:
    seed = await world.sc.latest()
    [one] = await pushed(world, "one")
    assert one != seed
    assert await world.sc.latest() == one


async def test_a_ref_without_commits_has_no_latest(kind: str, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        await world_of(kind, tmp_path, seeded=False).sc.latest()


async def test_an_unreachable_repository_says_so(world: World) -> None:
    with pytest.raises(UnreachableError):
        await world.cut().latest()


async def test_ancestry_follows_the_ref_and_a_commit_is_its_own_ancestor(world: World) -> None:
    sc = world.sc
    seed = await sc.latest()
    one, two = await pushed(world, "one", "two")
    assert await sc.is_ancestor(seed, two)
    assert await sc.is_ancestor(one, two)
    assert await sc.is_ancestor(two, two)
    assert not await sc.is_ancestor(two, one)
    unknown = sc.normalize("f" * 40)
    with pytest.raises(NotFoundError):
        await sc.is_ancestor(unknown, two)
    with pytest.raises(NotFoundError):
        await sc.is_ancestor(one, unknown)


async def test_history_pages_newest_first_to_the_root(world: World) -> None:
    sc = world.sc
    seed = await sc.latest()
    uris = await pushed(world, "c1", "c2", "c3", "c4")
    newest_first = [*reversed(uris), seed]
    seen: list[str] = []
    cursor = ""
    for _ in range(len(newest_first)):
        page = await sc.history(cursor, limit=2)
        assert 0 < len(page.uris) <= 2
        seen += page.uris
        cursor = page.next_cursor
        if not cursor:
            break
    assert seen == newest_first
    assert (await sc.history()).uris[: len(newest_first)] == tuple(newest_first)
    with pytest.raises(NotFoundError):
        await sc.history(sc.normalize("e" * 40))


async def test_changed_paths_between_two_commits_and_from_the_root(world: World) -> None:
    sc = world.sc
    seed = await sc.latest()
    world.commit("one", ["a/x.py", "b/y.py"])
    one = await sc.latest()
    world.commit("two", ["c/z.py"])
    two = await sc.latest()
    assert await sc.changed_paths(seed, one) == {"a/x.py", "b/y.py"}
    assert await sc.changed_paths(one, two) == {"c/z.py"}
    assert await sc.changed_paths(seed, two) == {"a/x.py", "b/y.py", "c/z.py"}
    assert await sc.changed_paths("", two) == {"README.md", "a/x.py", "b/y.py", "c/z.py"}
    assert await sc.changed_paths(two, two) == frozenset()
    with pytest.raises(NotFoundError):
        await sc.changed_paths(seed, sc.normalize("d" * 40))


async def test_promotion_moves_forward_only_and_is_idempotent(world: World) -> None:
    sc = world.sc
    one, two = await pushed(world, "one", "two")
    unset = await sc.promotion()
    assert unset is not None and (unset.ref, unset.uri) == (QUEUE_PROMOTION, "")
    first = await sc.promote(two)
    assert first is not None and (first.old, first.new, first.moved) == ("", two, True)
    backward = await sc.promote(one)
    assert backward is not None and (backward.old, backward.moved) == (two, False)
    again = await sc.promote(two)
    assert again is not None and (again.old, again.moved) == (two, False)
    now = await sc.promotion()
    assert now is not None and now.uri == two


async def test_each_project_has_its_own_promotion_ref_or_none(world: World) -> None:
    sc = world.sc
    one, two = await pushed(world, "one", "two")
    moved = await sc.promote(one, "a")
    assert moved is not None and (moved.ref, moved.moved) == (PROJECT_PROMOTION, True)
    assert await sc.promote(two) is not None
    project, queue = await sc.promotion("a"), await sc.promotion()
    assert project is not None and project.uri == one
    assert queue is not None and queue.uri == two
    assert await sc.promote(two, "unconfigured") is None
    assert await sc.promotion("unconfigured") is None


async def test_after_a_rewrite_promotion_lands_but_not_on_a_dropped_commit(world: World) -> None:
    sc = world.sc
    seed = await sc.latest()
    [dropped] = await pushed(world, "dropped")
    assert await sc.promote(dropped) is not None
    world.rewrite(seed, "replacement")
    replacement = await sc.latest()
    assert not await sc.is_ancestor(dropped, replacement)
    with pytest.raises(NotFoundError):
        await sc.promote(dropped)
    landed = await sc.promote(replacement)
    assert landed is not None and (landed.old, landed.moved) == (dropped, True)


async def test_normalize_names_a_commit_by_uri_sha_or_revision(world: World) -> None:
    sc = world.sc
    [one] = await pushed(world, "one")
    assert sc.normalize(one) == one
    assert sc.normalize(world.sha(one)) == one
    assert sc.normalize(await sc.revision(one)) == one
    for text in ("", "two words"):
        with pytest.raises(InvalidURIError):
            sc.normalize(text)


async def test_change_info_dates_commits_in_order(world: World) -> None:
    sc = world.sc
    seed = await sc.latest()
    [one] = await pushed(world, "one")
    older, newer = await sc.change_info(seed), await sc.change_info(one)
    assert 0 < older.created_at_ms <= newer.created_at_ms
    with pytest.raises(NotFoundError):
        await sc.change_info(sc.normalize("c" * 40))
