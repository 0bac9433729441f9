"""SubmitQueue landing through a remote CI: the whole stack in one process (gateway, orchestrator,
runway's git merger) with `build: {runner: buildkite | github-actions}` against the local
stand-ins. Three changes, one of which fails its build: the other two land as exactly the trees
the CI built, and nothing is left on the queue-owned refs."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from sq.service.settings_submitqueue import BuildConfig
from support.build_runners import REMOTE_KINDS, TOKEN, stand_in
from support.git_queue import CHECK, GitQueue, git_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOKEN_ENV = "SQ_TEST_CI_TOKEN"


def build_config(kind: str, api_url: str) -> BuildConfig:
    common = {"api_url": api_url, "token_env": TOKEN_ENV, "command": CHECK, "timeout": 120}
    if kind == "buildkite":
        return BuildConfig.model_validate(
            {"runner": kind, "organization": "acme", "pipeline": "ci", **common}
        )
    return BuildConfig.model_validate(
        {"runner": kind, "owner": "acme", "repo": "web", "workflow": "ci.yml", **common}
    )


def queue_refs(q: GitQueue) -> list[str]:
    refs = q.box.git("for-each-ref", "--format=%(refname)", cwd=q.box.origin).split()
    return [r for r in refs if r.startswith("refs/heads/sq/")]


@pytest.mark.parametrize("kind", REMOTE_KINDS)
async def test_changes_land_as_the_trees_the_ci_built(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    ci = stand_in(kind, tmp_path / "box" / "origin.git")  # where git_queue puts its origin
    await ci.start()
    try:
        async with git_queue(tmp_path, build=build_config(kind, ci.url)) as q:
            good = [q.branch(f"good-{i}", {f"good-{i}.txt": f"{i}\n"}) for i in (1, 2)]
            bad = q.branch("bad", {"bad.txt": "BROKEN\n"})
            ids = [await q.land(uri) for uri in (good[0], bad, good[1])]
            summaries = [await q.settled(rid) for rid in ids]
            assert [s["status"] for s in summaries] == ["landed", "error", "landed"]
            landed = q.target_values()[1:]
            assert len(landed) == 2
            passed = {r.tree for r in ci.runs.values() if r.state.value == "passed"}
            assert {q.tree(sha) for sha in landed} <= passed
            # A build the landing superseded is stopped, and its ref deleted, by a signal of its
            # own after the landing: the refs are gone soon after, not necessarily at once.
            for _ in range(300):
                if not queue_refs(q):
                    break
                await anyio.sleep(0.1)
            assert queue_refs(q) == []
    finally:
        await ci.stop()
