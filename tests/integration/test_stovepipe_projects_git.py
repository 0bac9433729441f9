"""Stovepipe phase 2 against a real git repository (issue #7 acceptance): projects `a/`, `b/`,
`c/`, the command runner, per-project promotion refs, and hook events to a local webhook.

Commit 1 touches every project (green). Commit 2 breaks only `b` (the build commands reject a
`BROKEN` file under the project), commit 3 changes `a` while `b` is still broken, commit 4 fixes
`b`. The promotion refs of `a` and `c` advance at every commit; `b`'s stays at 1 until 4.
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
from sq.platform.hooks import HookDeps, MemoryHookStore, WebhookHookSink
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import construct
from sq.stovepipe.controller.ingest import IngestController
from sq.stovepipe.deps import Deps, ProjectSetup, QueueSetup
from sq.stovepipe.extension.projectmapper.glob import GlobProjectMapper
from sq.stovepipe.extension.sourcecontrol.git import GitSourceControl
from sq.stovepipe.poller import Poller
from sq.stovepipe.stages import TOPIC_NAMES, stages
from sq.stovepipe.storage import NotFoundError, SqlStorage, schema
from support.webhook import Receiver

pytestmark = pytest.mark.anyio

Q = "monorepo/main"
PROJECTS = ("a", "b", "c")
SECRET = "s3cret"
WHOLE = "for p in a b c; do test ! -f $p/BROKEN || exit 1; done"


def ref(project: str = "") -> str:
    return f"refs/heads/verified-{project}" if project else "refs/heads/verified-main"


async def until(predicate: Callable[[], bool], what: str, seconds: float = 120.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


class _One:
    def __init__(self, sc: GitSourceControl) -> None:
        self.sc = sc

    def for_queue(self, queue: str) -> GitSourceControl:
        return self.sc


class World:
    def __init__(self, tmp_path: Path, receiver: Receiver) -> None:
        self.git = GitSandbox(tmp_path / "repo")
        self.git.seed()
        engine = create_engine(f"sqlite:///{tmp_path / 'stovepipe.db'}")
        migrations.upgrade(engine, schema(), migrations.counter_schema())
        self.store = SqlStorage(engine)
        self.sc = GitSourceControl(
            repository=str(self.git.origin),
            ref="refs/heads/main",
            promotion_ref=ref(),
            project_refs={p: ref(p) for p in PROJECTS},
            workspace=tmp_path / "workspace",
        )
        self.runner = CommandBuildRunner(
            workspace_dir=tmp_path / "builds", log_dir=tmp_path / "logs"
        )
        setup = QueueSetup(
            name=Q,
            repository=str(self.git.origin),
            full_command=WHOLE,
            projects=tuple(ProjectSetup(name=p, command=f"test ! -f {p}/BROKEN") for p in PROJECTS),
        )
        self.sink = WebhookHookSink(receiver.url, secret=SECRET)
        self.deps = Deps(
            storage=self.store,
            source_control=_One(self.sc),
            runner=self.runner,
            counter=Counter(engine),
            queues={Q: setup},
            poll_accepted_s=0.05,
            poll_running_s=0.05,
            mappers={Q: GlobProjectMapper({p: [f"{p}/"] for p in PROJECTS})},
            hooks=HookDeps(sink=self.sink, store=MemoryHookStore(), clock=SystemClock()),
        )
        self.mq = MessageQueue(MemoryQueueStore(), clock=SystemClock())
        ingest = IngestController(self.deps, self.mq)
        self.pipeline = construct(self.mq, self.deps, stages(), topic_names=TOPIC_NAMES)
        self.poller = Poller(ingest, [(Q, 0.05)], SystemClock())

    async def start(self) -> None:
        await self.pipeline.start()
        await self.poller.start()

    async def stop(self) -> None:
        await self.poller.stop()
        await self.mq.close()
        await self.runner.close()
        await self.sink.close()

    def judged(self, sha: str) -> bool:
        """Every project and the whole repository have their fact at `sha`."""
        return len(self.store.facts_at(Q, self.sc.normalize(sha))) == len(PROJECTS) + 1

    def degrees(self, sha: str) -> dict[str, float]:
        return {p: f.degree for p, f in self.store.facts_at(Q, self.sc.normalize(sha)).items()}

    def refs(self) -> dict[str, str | None]:
        return {p: self.git.origin_ref(ref(p)) for p in ("", *PROJECTS)}


async def test_a_commit_that_breaks_only_b_holds_back_only_b(tmp_path: Path) -> None:
    receiver = Receiver(SECRET)
    await receiver.start()
    w = World(tmp_path, receiver)
    await w.start()
    try:
        await _scenario(w, receiver)
    finally:
        await w.stop()
        await receiver.stop()


async def _scenario(w: World, receiver: Receiver) -> None:
    steps: list[tuple[str, dict[str, str | None]]] = [
        ("everything", {"a/x": "1\n", "b/x": "1\n", "c/x": "1\n"}),
        ("break b", {"b/BROKEN": "yes\n"}),
        ("change a", {"a/x": "3\n"}),
        ("fix b", {"b/BROKEN": None}),
    ]
    shas, refs = [], []
    for message, files in steps:
        shas.append(w.git.commit(message, files))
        w.git.push("main")
        await until(lambda s=shas[-1]: w.judged(s), f"{message}: every verdict recorded")
        moved = lambda s=shas[-1]: w.refs()["a"] == w.refs()["c"] == s  # noqa: E731
        await until(moved, f"{message}: verified-a and verified-c moved")
        refs.append(w.refs())

    one, two, three, four = shas
    assert w.degrees(one) == {"": 0.0, "a": 0.0, "b": 0.0, "c": 0.0}
    assert w.degrees(two) == {"": pytest.approx(1 / 3), "a": 0.0, "b": 1.0, "c": 0.0}
    assert w.degrees(three) == {"": pytest.approx(1 / 3), "a": 0.0, "b": 1.0, "c": 0.0}
    assert w.degrees(four) == {"": 0.0, "a": 0.0, "b": 0.0, "c": 0.0}
    assert [r["a"] for r in refs] == [r["c"] for r in refs] == shas
    assert [r["b"] for r in refs] == [one, one, one, four]
    assert [r[""] for r in refs] == [one, one, one, four]  # the whole repository was red
    with pytest.raises(NotFoundError):
        w.store.get_fact(Q, w.sc.normalize(two), "d")

    uri_two = w.sc.normalize(two)

    def received(type_: str, project: str, uri: str) -> bool:
        return any(
            e.type == type_ and e.payload["project"] == project and e.payload["uri"] == uri
            for e in receiver.received.values()
        )

    await until(lambda: received("commit.green", "c", uri_two), "the hook for c at commit 2")
    assert received("commit.red", "b", uri_two)
    assert received("commit.red", "", uri_two)
    assert not received("commit.green", "b", uri_two)

    def moves(project: str) -> list[str]:
        return sorted(
            e.payload["new"]
            for e in receiver.received.values()
            if e.type == "promotion.moved" and e.payload["project"] == project
        )

    uris = [w.sc.normalize(s) for s in shas]
    await until(lambda: len(moves("c")) == 4 and len(moves("b")) == 2, "the promotion events")
    assert moves("b") == sorted([uris[0], uris[3]])
    assert moves("a") == sorted(uris)
    assert all(p.signed for p in receiver.posts)
