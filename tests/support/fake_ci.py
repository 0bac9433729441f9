"""What the Buildkite and GitHub Actions stand-ins share: builds of commits of a bare repository.

A build checks out its commit (`git archive` into a temporary directory), records the commit's tree
hash, and runs a shell command there: the build's `SQ_BUILD_COMMAND` when given, else the CI's
`default_command` (say `./ci.sh`). Tests can hold builds (they stay scheduled until `release`d),
cancel one from the CI side, and make the next API calls answer an injected status (429, 5xx...).
Each stand-in serves its API with FastAPI on a free loopback port in the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sq.service.http import HttpServer


class CiState(enum.StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def finished(self) -> bool:
        return self in (CiState.PASSED, CiState.FAILED, CiState.CANCELED)


@dataclass
class CiRun:
    number: int
    sha: str
    branch: str
    env: dict[str, str]
    meta: dict[str, str] = field(default_factory=dict)
    state: CiState = CiState.SCHEDULED
    tree: str = ""
    log: str = ""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    canceled_by: str = ""
    pid: int | None = None
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class Injected:
    status: int
    headers: dict[str, str]
    body: dict[str, object]
    method: str | None
    after: bool
    """Do the call, then answer the injected status (a response lost after the fact)."""


class FakeCi:
    def __init__(self, repository: Path, *, token: str, default_command: str = "./ci.sh") -> None:
        self.repository = repository
        self.token = token
        self.default_command = default_command
        self.held = False
        self.runs: dict[int, CiRun] = {}
        self.calls: list[tuple[str, str]] = []
        self._numbers = itertools.count(1)
        self._injected: list[Injected] = []
        self._server: HttpServer | None = None
        self.port = 0
        self.app = FastAPI()
        self.app.middleware("http")(self._gate)

    # --- for tests -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        method: str | None = None,
        after: bool = False,
    ) -> None:
        """The next `times` API calls (of `method`, when given) answer `status` with `headers`,
        having done nothing, or with `after` having done what was asked."""
        body: dict[str, object] = {"message": f"injected {status}"}
        self._injected += [Injected(status, headers or {}, body, method, after)] * times

    def release(self) -> None:
        self.held = False
        for run in self.runs.values():
            if run.state is CiState.SCHEDULED and run.task is None:
                run.task = asyncio.get_running_loop().create_task(self._execute(run))

    async def cancel_on_ci(self, number: int, by: str = "ci") -> bool:
        """Stop a build as the CI (or a person there) would; False when it had finished."""
        run = self.runs[number]
        if run.state.finished:
            return False
        run.canceled_by = by
        run.state = CiState.CANCELED
        if run.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(run.pid, signal.SIGKILL)
        if run.task is not None:
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run.task
        return True

    async def wait_idle(self) -> None:
        for run in list(self.runs.values()):
            if run.task is not None and not run.task.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await run.task

    async def start(self) -> None:
        self._server = HttpServer(self.app, "127.0.0.1", self.port)
        await self._server.start()
        self.port = self._server.port

    async def stop(self) -> None:
        for number in list(self.runs):
            await self.cancel_on_ci(number, by="shutdown")
        if self._server is not None:
            await self._server.stop()
            self._server = None

    # --- for the API front-ends -----------------------------------------------------------------

    def create(self, *, sha: str, branch: str, env: dict[str, str], meta: dict[str, str]) -> CiRun:
        run = CiRun(number=next(self._numbers), sha=sha, branch=branch, env=env, meta=meta)
        self.runs[run.number] = run
        if not self.held:
            run.task = asyncio.get_running_loop().create_task(self._execute(run))
        return run

    def resolve(self, rev: str) -> str | None:
        out = subprocess.run(
            [
                "git",
                "--git-dir",
                str(self.repository),
                "rev-parse",
                "--verify",
                "-q",
                rev + "^{commit}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip() or None

    async def _gate(self, request: Request, call_next):  # type: ignore[no-untyped-def]
        self.calls.append((request.method, request.url.path))
        injected = next((i for i in self._injected if i.method in (None, request.method)), None)
        if injected is not None:
            self._injected.remove(injected)
            if injected.after:
                await call_next(request)
            return JSONResponse(injected.body, injected.status, headers=injected.headers)
        if request.url.path.startswith("/_logs/"):
            return await call_next(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"message": "Bad credentials"}, 401)
        response: Response = await call_next(request)
        return response

    async def _execute(self, run: CiRun) -> None:
        with tempfile.TemporaryDirectory(prefix="fake-ci-") as work:
            archive = await asyncio.create_subprocess_shell(
                f"git --git-dir '{self.repository}' archive {run.sha} | tar -x -C '{work}'",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await archive.communicate()
            if archive.returncode != 0:
                run.log += f"checkout of {run.sha} failed: {err.decode()}\n"
                run.state = CiState.FAILED
                return
            tree = await asyncio.create_subprocess_exec(
                "git",
                "--git-dir",
                str(self.repository),
                "rev-parse",
                f"{run.sha}^{{tree}}",
                stdout=asyncio.subprocess.PIPE,
            )
            run.tree = (await tree.communicate())[0].decode().strip()
            command = run.env.get("SQ_BUILD_COMMAND") or self.default_command
            run.state = CiState.RUNNING
            run.log += f"$ {command}\n"
            proc = await asyncio.create_subprocess_shell(
                command,
                cwd=work,
                env={**os.environ, **run.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            run.pid = proc.pid
            try:
                out, _ = await proc.communicate()
            finally:
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()
            run.log += out.decode("utf-8", "replace")
            if not run.state.finished:
                run.state = CiState.PASSED if proc.returncode == 0 else CiState.FAILED
