"""`sq serve stovepipe` on a real git repository, as a user runs it: poller, CLI, bad input, and a
`kill -9` in the middle of a build followed by a restart that loses nothing and records nothing
twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sq.platform.git.sandbox import GitSandbox
from sq.service.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE

Q = "monorepo/main"
CONFIG = """
stovepipe:
  lease_duration: 1s
  visibility_timeout: 2s
  poll_accepted: 100ms
  poll_running: 100ms
  queues:
    - name: monorepo/main
      repository: {origin}
      ref: refs/heads/main
      promotion_ref: refs/heads/verified-main
      build: {{runner: command, command: "sleep 0.4; test ! -f BROKEN"}}
      poll_interval: 100ms
      gate_wait: 100ms
      projects:
        - name: docs
          paths: ["docs/"]
          build: {{command: "true"}}
          promotion_ref: refs/heads/verified-docs
    - name: lost/repo
      repository: {tmp}/does-not-exist.git
      poll_interval: 1s
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sq", "serve", "stovepipe", "--port", str(self.port)],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.get("/readyz")[0] == 200, "sq serve ready")

    def get(self, path: str) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(self.addr + path, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except OSError:
            assert self.proc.poll() is None, "sq serve died"
            return 0, {}

    def sq(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "sq", "stovepipe", *args, "--addr", self.addr]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def wait_for(predicate: Callable[[], bool], what: str, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def state_of(server: Server, sha: str) -> str:
    _, body = server.get(f"/api/v1/stovepipe/greenness?queue={Q}&commit={sha}")
    return str(body.get("state", ""))


def test_kill_minus_nine_mid_build_loses_nothing_and_records_nothing_twice(tmp_path: Path) -> None:
    git = GitSandbox(tmp_path / "repo")
    git.seed()
    (tmp_path / "sq.yaml").write_text(CONFIG.format(origin=git.origin, tmp=tmp_path))
    server = Server(tmp_path)
    try:
        first = git.commit("commit 1", {"a.txt": "1\n"})
        git.push("main")
        wait_for(lambda: state_of(server, first) == "green", "commit 1 green")
        broken = git.commit("commit 2", {"BROKEN": "x\n"})
        git.push("main")
        wait_for(lambda: state_of(server, broken) == "broken", "commit 2 broken")
        assert server.sq("greenness", Q, broken).returncode == EXIT_FAILED
        assert json.loads(server.sq("greenness", Q, first, "--json").stdout)["state"] == "green"

        middle = git.commit("commit 3", {"BROKEN": None})
        git.push("main")
        wait_for(
            lambda: server.get(f"/api/v1/stovepipe/status?queue={Q}")[1].get("in_flight"),
            "a build in flight",
        )
        server.kill9()
        last = git.commit("commit 4", {"b.txt": "4\n"})
        git.push("main")
        server = Server(tmp_path)
        wait_for(lambda: state_of(server, last) == "green", "commit 4 green after restart")
        wait_for(
            lambda: git.origin_ref("refs/heads/verified-main") == last, "promotion of commit 4"
        )

        result = server.sq("greenness", Q, last)
        assert result.returncode == EXIT_OK, result.stderr
        assert state_of(server, middle) in ("green", "not_recorded")  # validated, or coalesced

        history = json.loads(server.sq("history", Q, "--json").stdout)["requests"]
        ids = [r["id"] for r in history]
        assert len(ids) == len(set(ids))
        for r in history:
            assert r["state"] in ("succeeded", "failed", "superseded"), r
            assert (r["degree"] is not None) == (r["state"] != "superseded"), r
        db = sqlite3.connect(tmp_path / ".sq" / "stovepipe.db")
        rows = db.execute(
            "SELECT f.uri, f.request_id, r.uri FROM stovepipe_validation_facts f "
            "JOIN stovepipe_requests r ON r.id = f.request_id AND r.queue = f.queue "
            "WHERE f.project = ''"
        ).fetchall()
        assert all(fact_uri == request_uri for fact_uri, _, request_uri in rows)
        assert (
            len(rows)
            == len({u for u, _, _ in rows})
            == sum(1 for r in history if r["degree"] is not None)
        )

        _, status = server.get(f"/api/v1/stovepipe/status?queue={Q}")
        assert str(status["last_green_uri"]).endswith(last)
        assert str(status["promotion_uri"]).endswith(last)  # read from the repository now
        assert status["in_flight"] == []
        assert status["in_flight_count"] == 0
        human = server.sq("status", Q).stdout
        assert f"refs/heads/verified-main at {last[:12]}" in human and last not in human

        # the docs project: green wherever the whole repository was, and at the broken commit
        # too (its own build passes; the breakage is outside it)
        wait_for(
            lambda: git.origin_ref("refs/heads/verified-docs") == last, "docs promoted to commit 4"
        )
        assert server.sq("green", Q, "--project", "docs", "--uri", broken).returncode == EXIT_OK
        docs = json.loads(server.sq("green", Q, "--project", "docs", "--json").stdout)
        assert docs["uri"].endswith(last)

        # bad input: clear errors and exit codes, never a crash loop
        code, body = server.get(f"/api/v1/stovepipe/greenness?queue=no/such&commit={last}")
        assert code == 404 and body["error"]["code"] == "unknown_queue"  # type: ignore[index]
        bad = server.sq("greenness", Q, "not a uri")
        assert bad.returncode == EXIT_BAD_INPUT and "invalid_uri" in bad.stderr
        assert state_of(server, "0" * 40) == "not_recorded"
        code, body = server.get("/api/v1/stovepipe/greenness?queue=" + Q + "&commit=git://x/y")
        assert code == 400 and body["error"]["code"] == "invalid_uri"  # type: ignore[index]
        lost = server.sq("ingest", "lost/repo")
        assert lost.returncode == EXIT_UNREACHABLE and "repository_unreachable" in lost.stderr
        _, lost_status = server.get("/api/v1/stovepipe/status?queue=lost/repo")
        assert lost_status["poller"]["last_error"]  # type: ignore[index]
        assert server.proc.poll() is None
    finally:
        server.proc.kill()
        server.proc.wait()
    down = subprocess.run(
        [sys.executable, "-m", "sq", "stovepipe", "status", Q, "--addr", server.addr],
        capture_output=True,
        text=True,
        check=False,
    )
    assert down.returncode == EXIT_UNREACHABLE
