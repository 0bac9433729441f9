"""Several `sq serve` processes on one PostgreSQL, as a multi-instance deployment runs them.

Each member is one OS process serving one service, with its own port, data directory (build and
git workspaces) and log file; every member shares the configuration, so the queue and the
services' tables are the same database. Members are killed with SIGKILL (the process group, so
builds they run die with them) or stopped with SIGTERM, each by its own pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchnet import call, free_port

READY_S = 120.0


@dataclass
class Member:
    service: str
    index: int
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str) -> tuple[int, Any]:
        return call("GET", self.base + path)

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return call("POST", self.base + path, body)


class Cluster:
    def __init__(self, root: Path, config: str) -> None:
        self.root = root
        self.config = root / "sq.yaml"
        root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config)
        self.members: list[Member] = []

    def start(self, *services: str, count: int = 1) -> list[Member]:
        """Start `count` more processes of each service, then wait until each is ready."""
        started = []
        for service in [s for s in services for _ in range(count)]:
            index = sum(1 for m in self.members if m.service == service) + 1
            member = Member(service, index, free_port(), self.root / f"{service}-{index}.log")
            data = self.root / member.name
            argv = [
                sys.executable, "-m", "sq", "serve", service, "--config", str(self.config),
                "--data-dir", str(data), "--port", str(member.port),
            ]  # fmt: skip
            # Unbuffered, so that the log of a SIGKILLed member keeps its last lines.
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            with member.log.open("wb") as out:
                member.proc = subprocess.Popen(
                    argv, cwd=self.root, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True, env=env,
                )  # fmt: skip
            self.members.append(member)
            started.append(member)
        for member in started:
            self._wait_ready(member)
        return started

    def of(self, service: str, *, alive: bool = True) -> list[Member]:
        return [m for m in self.members if m.service == service and (m.alive or not alive)]

    def kill(self, member: Member) -> None:
        assert member.proc is not None
        os.killpg(member.proc.pid, signal.SIGKILL)
        member.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM every live member, then SIGKILL whatever has not exited in time."""
        for member in self.members:
            if member.alive:
                assert member.proc is not None
                os.killpg(member.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 40
        for member in self.members:
            if member.proc is None:
                continue
            try:
                member.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(member)

    def _wait_ready(self, member: Member) -> None:
        deadline = time.monotonic() + READY_S
        while True:
            assert member.alive, f"{member.name} exited; see {member.log}"
            try:
                if member.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{member.name} never became ready"
            time.sleep(0.2)
