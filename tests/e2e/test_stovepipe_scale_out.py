"""Two `sq serve stovepipe` processes on one PostgreSQL, sharing their builds through the database.

Commit 1 is validated while both live: its build runs once, in one of them, whichever polls it.
Commit 2's build is running when the process that triggered it is SIGKILLed (its build dies with
it): the other process sees the run's heartbeat go stale, builds the commit again and concludes
it green. Nothing is recorded as failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from sq.platform.db import create_engine
from sq.platform.git.sandbox import GitSandbox
from support.databases import fresh_postgres_database
from support.sq_cluster import Cluster, Member

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

Q = "git/main"
UNFINISHED = ("pending", "running")
CONFIG = """
log: {{level: warning}}
mq: {{url: "{url}", lease_duration_ms: 1500, visibility_timeout_ms: 3000}}
stovepipe:
  url: "{url}"
  lease_duration: 1500ms
  visibility_timeout: 3s
  poll_accepted: 200ms
  poll_running: 200ms
  queues:
    - name: git/main
      repository: {origin}
      ref: refs/heads/main
      build: {{runner: command, command: "sleep 3; test ! -f BROKEN"}}
      poll_interval: 200ms
      gate_wait: 100ms
"""


def wait_for(predicate: Callable[[], object], what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


def state_of(member: Member, sha: str) -> str:
    _, body = member.get(f"/api/v1/stovepipe/greenness?queue={Q}&commit={sha}")
    return str(body.get("state", ""))


def run_of(engine: sa.Engine, sha: str) -> sa.RowMapping | None:
    """The run of the build of the request validating commit `sha`."""
    query = sa.text(
        "SELECT u.* FROM stovepipe_build_runs u"
        " JOIN stovepipe_builds b ON b.queue = u.queue AND b.id = u.build_id"
        " JOIN stovepipe_requests r ON r.queue = b.queue AND r.id = b.request_id"
        " WHERE r.uri LIKE :tail AND b.project = ''"
    )
    with engine.connect() as conn:
        return conn.execute(query, {"tail": f"%{sha}"}).mappings().one_or_none()


def logs_of(cluster: Cluster, build_id: str) -> list[str]:
    """The members whose runner ran the build (the command runner keeps a log per build)."""
    return [
        m.name
        for m in cluster.members
        if any((cluster.root / m.name / "stovepipe" / "logs").glob(f"{build_id}*.log"))
    ]


def pid_of(owner: str) -> int:
    return int(owner.split(":")[1])


def test_the_survivor_concludes_the_build_of_a_killed_stovepipe_without_a_failure(
    tmp_path: Path,
) -> None:
    git = GitSandbox(tmp_path / "repo")
    git.seed()
    with fresh_postgres_database() as url:
        cluster = Cluster(tmp_path / "cluster", CONFIG.format(url=url, origin=git.origin))
        engine = create_engine(url)
        try:
            first_pair = cluster.start("stovepipe", count=2)
            first = git.commit("commit 1", {"a.txt": "1\n"})
            git.push("main")
            wait_for(lambda: state_of(first_pair[0], first) == "green", "commit 1 green")
            run = run_of(engine, first)
            assert run is not None and run["state"] == "passed"
            assert len(logs_of(cluster, run["build_id"])) == 1, "built twice while both lived"

            second = git.commit("commit 2", {"b.txt": "2\n"})
            git.push("main")
            wait_for(lambda: (run_of(engine, second) or {}).get("state") in UNFINISHED, "building")
            running = run_of(engine, second)
            assert running is not None
            (owner,) = [m for m in first_pair if m.proc and m.proc.pid == pid_of(running["owner"])]
            cluster.kill(owner)
            (survivor,) = cluster.of("stovepipe")
            wait_for(lambda: state_of(survivor, second) == "green", "commit 2 green", 90)

            rebuilt = run_of(engine, second)
            assert rebuilt is not None and rebuilt["state"] == "passed"
            assert survivor.proc is not None and pid_of(rebuilt["owner"]) == survivor.proc.pid
            with engine.connect() as conn:
                states = conn.execute(sa.text("SELECT state FROM stovepipe_requests")).scalars()
                builds = conn.execute(sa.text("SELECT status FROM stovepipe_builds")).scalars()
                assert set(states) == {"succeeded"}
                assert set(builds) == {"succeeded"}
        finally:
            cluster.stop()
            engine.dispose()
