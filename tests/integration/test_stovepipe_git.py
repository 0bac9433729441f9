"""Stovepipe against a real git repository: the poller, the command runner, the promotion ref.

Ten commits pushed one at a time; commits 4 and 7 break the build command (they add a file the
command rejects; 5 and 8 remove it). Then a force-push rewrites history. The promotion ref is
checked at every step: a green commit of the branch as it was then, never moved backward, and
neither a late promotion of an older commit nor one of a commit the force-push dropped moves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.build.command import CommandBuildRunner
from sq.platform.clock import SystemClock
from sq.platform.counter import Counter
from sq.platform.db import create_engine
from sq.platform.git.sandbox import GitSandbox
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import construct
from sq.stovepipe.controller.ingest import IngestController
from sq.stovepipe.deps import Deps, QueueSetup
from sq.stovepipe.entity import BuildStrategy, RequestState
from sq.stovepipe.extension.sourcecontrol import NotFoundError as ScNotFoundError
from sq.stovepipe.extension.sourcecontrol.git import GitSourceControl
from sq.stovepipe.poller import Poller
from sq.stovepipe.stages import TOPIC_NAMES, stages
from sq.stovepipe.storage import NotFoundError, SqlStorage, schema

pytestmark = pytest.mark.anyio

Q = "monorepo/main"
PROMOTION = "refs/heads/verified-main"
COMMAND = "test ! -f BROKEN"


async def until(predicate: Callable[[], bool], what: str, seconds: float = 180.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.git = GitSandbox(tmp_path / "repo")
        self.git.seed()
        engine = create_engine(f"sqlite:///{tmp_path / 'stovepipe.db'}")
        migrations.upgrade(engine, schema(), migrations.counter_schema())
        self.store = SqlStorage(engine)
        self.sc = GitSourceControl(
            repository=str(self.git.origin),
            ref="refs/heads/main",
            promotion_ref=PROMOTION,
            workspace=tmp_path / "workspace",
        )
        self.runner = CommandBuildRunner(
            workspace_dir=tmp_path / "builds", log_dir=tmp_path / "logs"
        )
        setup = QueueSetup(name=Q, repository=str(self.git.origin), full_command=COMMAND)
        factory = _One(self.sc)
        self.deps = Deps(
            storage=self.store,
            source_control=factory,
            runner=self.runner,
            counter=Counter(engine),
            queues={Q: setup},
            poll_accepted_s=0.05,
            poll_running_s=0.05,
        )
        self.mq = MessageQueue(MemoryQueueStore(), clock=SystemClock())
        self.ingest = IngestController(self.deps, self.mq)
        self.pipeline = construct(self.mq, self.deps, stages(), topic_names=TOPIC_NAMES)
        self.poller = Poller(self.ingest, [(Q, 0.05)], SystemClock())
        self.last_greens: list[str] = []
        self.promotions: list[str | None] = []
        self.heads: list[str | None] = []

    async def start(self) -> None:
        await self.pipeline.start()
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()
        await self.mq.close()
        await self.runner.close()

    def request_for(self, sha: str) -> str | None:
        try:
            return self.store.get_request_id_by_uri(Q, self.sc.normalize(sha))
        except NotFoundError:
            return None

    def finished(self, sha: str) -> bool:
        rid = self.request_for(sha)
        try:
            return rid is not None and self.store.get_request(Q, rid).state.is_terminal
        except NotFoundError:
            return False  # ingest writes the mapping before the request row

    def observe(self) -> None:
        row = self.store.get_queue(Q)
        self.last_greens.append(row.last_green_request_id)
        self.promotions.append(self.git.origin_ref(PROMOTION))
        self.heads.append(self.git.origin_ref("refs/heads/main"))

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self.git.git("merge-base", "--is-ancestor", ancestor, descendant, cwd=self.git.origin)
        except RuntimeError:
            return False
        return True

    def check_promotions(self) -> None:
        """At every observed step the promotion ref names a green commit of the branch as it was
        then, and it never moved back to an ancestor of where it was."""
        previous: str | None = None
        for promoted, head in zip(self.promotions, self.heads, strict=True):
            if promoted is None:
                assert previous is None, "the promotion ref was deleted"
                continue
            assert self.store.get_fact(Q, self.sc.normalize(promoted)).is_green
            if promoted != previous:
                assert head is not None and self.is_ancestor(promoted, head), "off the branch"
                assert previous is None or not self.is_ancestor(promoted, previous), "backward"
            previous = promoted


class _One:
    def __init__(self, sc: GitSourceControl) -> None:
        self.sc = sc

    def for_queue(self, queue: str) -> GitSourceControl:
        return self.sc


async def test_ten_commits_two_broken_then_a_force_push(tmp_path: Path) -> None:
    w = World(tmp_path)
    await w.start()
    try:
        await _scenario(w)
    finally:
        await w.stop()


async def _scenario(w: World) -> None:
    shas = []
    for n in range(1, 11):
        files: dict[str, str | None] = {f"file{n}.txt": f"{n}\n"}
        if n in (4, 7):
            files["BROKEN"] = "yes\n"
        if n in (5, 8):
            files["BROKEN"] = None
        shas.append(w.git.commit(f"commit {n}", files))
        w.git.push("main")
        await until(lambda s=shas[-1]: w.finished(s), f"commit {n} validated")
        w.observe()
    await until(lambda: w.git.origin_ref(PROMOTION) == shas[-1], "promotion of commit 10")

    facts = {n + 1: w.store.get_fact(Q, w.sc.normalize(sha)) for n, sha in enumerate(shas)}
    assert [n for n, f in facts.items() if not f.is_green] == [4, 7]
    for sha in shas:
        rid = w.request_for(sha)
        assert rid is not None and w.store.get_fact(Q, w.sc.normalize(sha)).request_id == rid
    row = w.store.get_queue(Q)
    assert row.last_green_uri == w.sc.normalize(shas[-1])
    numbers = [int(r.rsplit("/", 1)[1]) for r in w.last_greens if r]
    assert numbers == sorted(numbers)  # never backward
    assert w.store.get_request(Q, w.request_for(shas[4]) or "").base_uri == w.sc.normalize(
        shas[2]
    )  # commit 5 built incrementally since commit 3, across the broken 4

    # force-push: drop commits 9 and 10, add 9'
    w.git.checkout("main", shas[7])
    rewritten = w.git.commit("commit 9 rewritten", {"other.txt": "x\n"})
    w.git.push("main", force=True)
    await until(lambda: w.finished(rewritten), "the rewritten head validated")
    request = w.store.get_request(Q, w.request_for(rewritten) or "")
    assert (request.state, request.build_strategy) == (RequestState.SUCCEEDED, BuildStrategy.FULL)
    await until(lambda: w.git.origin_ref(PROMOTION) == rewritten, "promotion after the rewrite")
    w.observe()
    assert w.store.get_queue(Q).last_green_uri == w.sc.normalize(rewritten)
    assert w.store.fact_count(Q) == 11

    # a late promotion of an older green commit, and of one the force-push dropped: neither moves
    older = await w.sc.promote(w.sc.normalize(shas[5]))
    assert older is not None and not older.moved
    with pytest.raises(ScNotFoundError):
        await w.sc.promote(w.sc.normalize(shas[9]))
    w.observe()
    assert w.git.origin_ref(PROMOTION) == rewritten
    assert len(set(w.promotions)) >= 4
    w.check_promotions()
