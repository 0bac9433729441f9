"""Crash safety: `sq serve` is SIGKILLed at random points while 20 requests land into real git.

After each kill it restarts on the same data directory. In the end every request is terminal,
every landed change is on the target exactly once, and nothing whose build failed landed.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sq.service.demo.sandbox import BUILD_COMMAND, DemoRepository, plan_changes
from support.sq_cluster import call, free_port

pytestmark = pytest.mark.slow

REQUESTS = 20
FAILING = 3
KILLS = 4
TERMINAL = {"landed", "error", "cancelled"}


class Server:
    """`sq serve` on a fixed port and data directory; killed with SIGKILL, restarted at will."""

    def __init__(self, tmp: Path, config: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.argv = [
            sys.executable, "-m", "sq", "serve", "gateway", "orchestrator", "runway",
            "--config", str(config), "--data-dir", str(tmp / "data"), "--port", str(self.port),
        ]  # fmt: skip
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with (self.tmp / f"serve-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, f"sq serve exited; see serve-{self.starts}.log"
            try:
                if call("GET", f"{self.base}/readyz")[0] == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "sq serve never became ready"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        # The whole process group: the server and any build it had running.
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def status(self, request_id: str) -> str:
        """The request's status, with its last error when it has one (`error: <why>`)."""
        queue, _, number = request_id.rpartition("/")
        code, body = call("GET", f"{self.base}/api/v1/requests/{queue}/{number}")
        if code != 200:
            return f"http {code}"
        return ": ".join(str(part) for part in (body["status"], body["last_error"]) if part)


def test_sigkill_at_random_points_loses_nothing_and_lands_nothing_twice(tmp_path: Path) -> None:
    seed = int(os.environ.get("SQ_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"crash seed {seed} (rerun with SQ_CRASH_SEED={seed})")
    repo = DemoRepository.create(tmp_path / "sandbox", folders=4)
    config = tmp_path / "sq.yaml"
    config.write_text(
        "submitqueue:\n"
        "  queues:\n"
        "    - name: main\n"
        "      provider: git\n"
        f"      repository: {repo.origin}\n"
        "      strategy: squash-rebase\n"
        f"      build: {{runner: command, command: {BUILD_COMMAND!r}, timeout: 60s}}\n"
        "      conflict_analyzer: pathoverlap\n"
    )
    changes = plan_changes(REQUESTS, 4, 1, FAILING, stacked=False)
    server = Server(tmp_path, config)
    server.start()
    ids: dict[str, int] = {}
    try:
        for change in changes:
            uri = repo.git_uri(change, repo.push(change))
            code, body = call(
                "POST", f"{server.base}/api/v1/requests", {"queue": "main", "change_uris": [uri]}
            )
            assert code == 201, body
            ids[body["id"]] = change.number
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 6.0))
            server.kill()
            server.start()
        deadline = time.monotonic() + 240
        while True:
            statuses = {r: server.status(r) for r in ids}
            if all(s.partition(":")[0] in TERMINAL for s in statuses.values()):
                break
            assert time.monotonic() < deadline, f"not settled (seed {seed}): {statuses}"
            time.sleep(0.5)
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()

    failing = {c.number for c in changes if c.fails}
    landed_by_status = {ids[r] for r, s in statuses.items() if s.partition(":")[0] == "landed"}
    subjects = repo.sandbox.git("log", "--format=%s", "main", cwd=repo.origin).splitlines()
    on_target = [int(n) for s in subjects for n in re.findall(r"add change (\d+)$", s)]
    assert len(on_target) == len(set(on_target)), f"a change landed twice (seed {seed})"
    assert set(on_target) == landed_by_status, f"seed {seed}: {statuses}"
    assert not failing & set(on_target), f"a failing change landed (seed {seed})"
    assert landed_by_status == {c.number for c in changes} - failing, f"seed {seed}: {statuses}"
    assert repo.is_linear()
