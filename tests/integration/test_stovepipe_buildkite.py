"""Stovepipe validating a branch on Buildkite: `sq serve stovepipe`'s wiring from a `build:
{runner: buildkite}` queue, against the local Buildkite stand-in and a real git repository.

Three commits (the second breaks the pipeline's own check): each is built on "Buildkite" as
exactly its tree, the broken one is recorded red, the promotion ref moves to the newest green
commit, and no queue-owned ref is left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from sq.platform.git.sandbox import GitSandbox
from sq.service.runtime import Runtime
from sq.service.settings import Settings
from sq.service.stovepipe import build
from sq.stovepipe.extension.sourcecontrol.git import GitSourceControl
from sq.stovepipe.storage import SqlStorage, schema
from support.fake_buildkite import FakeBuildkite

pytestmark = pytest.mark.anyio

Q = "monorepo/main"
PROMOTION = "refs/heads/verified-main"
TOKEN_ENV = "SQ_TEST_BUILDKITE_TOKEN"


async def until(predicate: Callable[[], bool], what: str, seconds: float = 120.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def settings(tmp_path: Path, origin: Path, api_url: str) -> Settings:
    queue = {
        "name": Q,
        "repository": str(origin),
        "ref": "refs/heads/main",
        "promotion_ref": PROMOTION,
        # No command: the Buildkite pipeline runs its own steps (the stand-in's default).
        "build": {
            "runner": "buildkite",
            "api_url": api_url,
            "organization": "acme",
            "pipeline": "monorepo",
            "token_env": TOKEN_ENV,
            "timeout": "2m",
        },
        "poll_interval": "100ms",
        "gate_wait": "100ms",
    }
    stovepipe = {"poll_accepted": "100ms", "poll_running": "100ms", "queues": [queue]}
    return Settings.model_validate({"data_dir": tmp_path / "data", "stovepipe": stovepipe})


async def test_stovepipe_validates_each_head_on_buildkite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = GitSandbox(tmp_path / "repo")
    shas = [git.seed({"README.md": "hello\n"})]
    ci = FakeBuildkite(
        git.origin, token="bk-token", pipeline="monorepo", default_command="test ! -f BROKEN"
    )
    await ci.start()
    monkeypatch.setenv(TOKEN_ENV, "bk-token")
    runtime = Runtime(settings(tmp_path, git.origin, ci.url))
    parts = build(runtime)
    store = SqlStorage(runtime.engine_for("stovepipe", schema()))
    sc = GitSourceControl(
        repository=str(git.origin), ref="refs/heads/main", workspace=tmp_path / "sc"
    )

    def finished(sha: str) -> bool:
        try:
            rid = store.get_request_id_by_uri(Q, sc.normalize(sha))
            return store.get_request(Q, rid).state.is_terminal
        except Exception:  # not ingested yet
            return False

    for component in parts.components:
        await component.start()
    try:
        await until(lambda: git.origin_ref(PROMOTION) == shas[0], "the seed promoted")
        shas.append(git.commit("break it", {"BROKEN": "yes\n"}))
        git.push("main")
        await until(lambda: finished(shas[1]), "the broken commit validated")
        assert git.origin_ref(PROMOTION) == shas[0]
        shas.append(git.commit("fix it", {"BROKEN": None}))
        git.push("main")
        await until(lambda: git.origin_ref(PROMOTION) == shas[2], "the fix promoted")
    finally:
        for component in reversed(parts.components):
            await component.stop()
        await ci.stop()
        await runtime.queue.close()
        runtime.dispose()

    greens = [store.get_fact(Q, sc.normalize(sha)).is_green for sha in shas]
    assert greens == [True, False, True]
    built = {run.sha: run for run in ci.runs.values()}
    assert set(built) == set(shas)
    for sha, run in built.items():
        assert run.tree == git.git("rev-parse", f"{sha}^{{tree}}", cwd=git.origin).strip()
        assert run.env["SQ_BUILD_ID"] and run.meta["sq_build_id"] == run.env["SQ_BUILD_ID"]
        assert run.branch.startswith("sq/builds/")
    assert built[shas[1]].state.value == "failed"
    refs = git.git("for-each-ref", "--format=%(refname)", "refs/heads/sq/", cwd=git.origin)
    assert refs.strip() == ""
