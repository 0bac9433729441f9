"""Real git end to end: the git provider, the command build runner and the git merger land
several changes into a bare repository; the build command passes at every commit put on main."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.build.command import CommandBuildRunner
from sq.platform.changeuri import branch_head_uri
from sq.platform.db import create_engine
from sq.platform.git.sandbox import GitSandbox
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import construct
from sq.runway.controller.deps import RunwayDeps, RunwayTarget
from sq.runway.extension.merger import Strategy
from sq.runway.extension.merger.git import GitMerger
from sq.runway.pipeline import PUBLISH_ONLY as RUNWAY_PUBLISH
from sq.runway.pipeline import STAGES as RUNWAY_STAGES
from sq.submitqueue.core import messages as m
from sq.submitqueue.extension.changeprovider.git import GitChangeProvider
from sq.submitqueue.extension.conflictanalyzer.all import AllConflictAnalyzer
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.orchestrator.pipeline import PUBLISH_ONLY, STAGES
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, Profiles, QueueProfile
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema
from support.mq import Harness
from support.sq_stack import LogSink

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# The "test suite": every counter file has its expectation beside it.
CHECK = 'for f in c/*; do [ -e "$f" ] || continue; cmp -s "$f" "expect/${f#c/}" || exit 1; done'


async def test_changes_land_in_order_and_main_is_green_at_every_commit(tmp_path: Path) -> None:
    sandbox = GitSandbox(tmp_path / "sandbox")
    sandbox.seed({"README.md": "counters\n"})
    uris = []
    for i in range(1, 5):
        branch = f"change-{i}"
        sandbox.checkout(branch, "main")
        # Two commits: the first alone would fail the check, so only squashed trees may land.
        sandbox.commit(f"add counter {i}", {f"c/{i}": f"{i}\n"})
        head = sandbox.commit(f"expect counter {i}", {f"expect/{i}": f"{i}\n"})
        sandbox.push(branch)
        uris.append(str(branch_head_uri(str(sandbox.origin), branch, head)))
    bad_branch = "change-bad"
    sandbox.checkout(bad_branch, "main")
    bad = sandbox.commit("break the sum", {"c/bad": "100\n"})
    sandbox.push(bad_branch)
    bad_uri = str(branch_head_uri(str(sandbox.origin), bad_branch, bad))

    h = Harness(MemoryQueueStore())
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    storage = OrchestratorStorage(engine)
    runner = CommandBuildRunner(workspace_dir=tmp_path / "builds", log_dir=tmp_path / "logs")
    repository = str(sandbox.origin)
    profile = QueueProfile(
        name="main",
        provider=GitChangeProvider(
            repository=repository, target="refs/heads/main", workspace=tmp_path / "changes"
        ),
        analyzer=AllConflictAnalyzer(),
        speculator=StandardSpeculator(ConstantScorer(0.9), 4),
        runner=runner,
        repository=repository,
        strategy="squash-rebase",
        build_command=CHECK,
        build_timeout_s=60,
    )
    deps = OrchestratorDeps(storage=storage, profiles=Profiles([profile]), clock=h.clock)
    orchestrator = construct(h.queue, deps, STAGES, publish_only=PUBLISH_ONLY)
    merger = GitMerger(workspace_dir=tmp_path / "runway")
    target = RunwayTarget(
        merger=merger,
        repository=repository,
        strategy=Strategy.SQUASH_REBASE,
        update_head_branches=True,
    )
    runway = construct(
        h.queue, RunwayDeps(targets=lambda q: target), RUNWAY_STAGES, publish_only=RUNWAY_PUBLISH
    )
    log = LogSink()
    await orchestrator.start()
    await runway.start()
    await h.consume(m.TOPIC_LOG, "gateway-log", inbox=log)  # type: ignore[arg-type]

    ids = []
    for n, uri in enumerate([*uris[:2], bad_uri, *uris[2:]], start=1):
        request_id = f"main/{n}"
        ids.append(request_id)
        land = m.LandRequest(id=request_id, queue="main", change=m.ChangeRef(uris=(uri,)))
        await h.queue.publish(m.TOPIC_START, "main", request_id, land)

    for _ in range(400):
        await h.settle()
        h.clock.advance(5)
        if all(log.final(r) for r in ids):
            break
        await asyncio.sleep(0.05)
    await runway.stop()
    await orchestrator.stop()
    await runner.close()

    finals = {r: log.final(r) for r in ids}
    assert finals == {
        "main/1": "landed",
        "main/2": "landed",
        "main/3": "error",
        "main/4": "landed",
        "main/5": "landed",
    }
    landed = sandbox.git("rev-list", "--reverse", "--first-parent", "main", cwd=sandbox.origin)
    commits = landed.split()[1:]  # after the seed
    assert len(commits) == 4  # one squashed commit per landed change, each once
    assert _failing_commits(sandbox.origin, commits, tmp_path / "check") == []


def _failing_commits(origin: Path, commits: list[str], root: Path) -> list[str]:
    """Check out each commit and run the build command there; the ones where it fails."""
    failing: list[str] = []
    for sha in commits:
        tree = root / sha
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), sha],
            cwd=origin,
            check=True,
            capture_output=True,
        )
        if subprocess.run(["sh", "-c", CHECK], cwd=tree, check=False).returncode != 0:
            failing.append(sha)
    return failing
