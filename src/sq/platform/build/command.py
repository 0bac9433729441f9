"""A build runner that runs a shell command on the exact tree of a build, on this machine.

Each build gets a temporary git worktree (from `BuildSources`: `base`, then each layer's commits
in order) in a bare clone of the repository that the runner keeps per repository, and runs
`request.command` in it through `/bin/sh` in a new process group. At most `max_concurrent`
builds run at once per queue (the `queue` label); the rest wait as `pending`. A build past its
`timeout_s` is killed and failed; `cancel` kills its whole process group. Output goes to
`<log_dir>/<build id>.log`, which outlives the process; statuses are in memory only, so after a
restart an old id is unknown (`UnknownBuildError`) though its log is still readable. `on_finish`
is awaited with each build's final status as soon as it finishes (cancelled ones included), so
the caller can record it where other processes see it and need not poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import re
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from sq.platform.build import (
    STOPPED_WITH_RUNNER,
    BuildRequest,
    BuildState,
    BuildStatus,
    UnknownBuildError,
)
from sq.platform.build.source import BuildSources
from sq.platform.changeuri import ChangeURIError
from sq.platform.clock import Clock, SystemClock
from sq.platform.git import GitError, TreeConflict

OnFinish = Callable[[BuildRequest, BuildStatus], Awaitable[None]]


class _Build:
    def __init__(self, status: BuildStatus) -> None:
        self.status = status
        self.task: asyncio.Task[None] | None = None
        self.pid: int | None = None
        self.cancelled = False
        self.stop_reason = "cancelled"


class CommandBuildRunner:
    def __init__(
        self,
        *,
        workspace_dir: Path,
        log_dir: Path,
        max_concurrent: int = 2,
        clock: Clock | None = None,
        on_finish: OnFinish | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._log_dir = log_dir
        self._max = max_concurrent
        self._clock = clock or SystemClock()
        self._on_finish = on_finish
        self._builds: dict[str, _Build] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._sources = BuildSources(workspace_dir)

    def log_path(self, build_id: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", build_id)[:80]
        digest = hashlib.sha256(build_id.encode()).hexdigest()[:12]
        return self._log_dir / f"{safe}-{digest}.log"

    async def trigger(self, request: BuildRequest) -> BuildStatus:
        known = self._builds.get(request.build_id)
        if known is not None:
            return known.status
        build = _Build(
            BuildStatus(
                build_id=request.build_id,
                state=BuildState.PENDING,
                log_path=str(self.log_path(request.build_id)),
            )
        )
        self._builds[request.build_id] = build
        build.task = asyncio.get_running_loop().create_task(self._run(build, request))
        return build.status

    async def status(self, build_id: str) -> BuildStatus:
        build = self._builds.get(build_id)
        if build is None:
            raise UnknownBuildError(build_id)
        return build.status

    async def cancel(self, build_id: str) -> BuildStatus:
        return await self._stop(build_id, "cancelled")

    async def _stop(self, build_id: str, reason: str) -> BuildStatus:
        build = self._builds.get(build_id)
        if build is None:
            raise UnknownBuildError(build_id)
        if not build.status.state.finished:
            build.cancelled, build.stop_reason = True, reason
            self._kill(build)
            if build.task is not None:
                build.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await build.task
            self._finish(build, BuildState.CANCELLED, reason)
        return build.status

    async def log(self, build_id: str) -> str:
        path = self.log_path(build_id)
        try:
            return await asyncio.to_thread(path.read_text, "utf-8", "replace")
        except FileNotFoundError:
            return ""

    async def close(self) -> None:
        """Stop every unfinished build (used on shutdown), with `STOPPED_WITH_RUNNER` as the
        reason: the queue builds them again and counts none of them as cancelled by CI."""
        for build_id, build in list(self._builds.items()):
            if not build.status.state.finished:
                await self._stop(build_id, STOPPED_WITH_RUNNER)

    # --- running -------------------------------------------------------------------------------

    async def _run(self, build: _Build, request: BuildRequest) -> None:
        queue = request.labels.get("queue", "")
        slots = self._slots.setdefault(queue, asyncio.Semaphore(self._max))
        try:
            async with slots:
                self._update(build, state=BuildState.RUNNING, started_at_ms=self._clock.now_ms())
                await self._build(build, request)
        except asyncio.CancelledError:
            self._finish(build, BuildState.CANCELLED, build.stop_reason)
        except (GitError, OSError, ChangeURIError) as exc:
            self._write_log(request.build_id, f"\nbuild could not run: {exc}\n")
            self._finish(build, BuildState.ERROR, f"could not prepare the tree: {exc}")
        if self._on_finish is not None:
            await self._on_finish(request, build.status)

    async def _build(self, build: _Build, request: BuildRequest) -> None:
        _, tree = await self._sources.prepare(request)
        if isinstance(tree, TreeConflict):
            self._write_log(request.build_id, f"tree does not apply: {tree.reason}\n")
            self._finish(build, BuildState.FAILED, tree.reason)
            return
        try:
            self._write_log(request.build_id, f"$ {request.command}  # at {tree.sha}\n")
            code = await self._execute(build, request, tree.path)
        finally:
            await tree.remove()
        if code is None:
            self._finish(build, BuildState.FAILED, f"timed out after {request.timeout_s:g}s")
        elif code == 0:
            self._finish(build, BuildState.PASSED, "command passed", exit_code=0)
        else:
            self._finish(build, BuildState.FAILED, f"command exited {code}", exit_code=code)

    async def _execute(self, build: _Build, request: BuildRequest, cwd: Path) -> int | None:
        env = dict(os.environ)
        env.update(SQ_BUILD_ID=request.build_id, SQ_BASE=request.base)
        if request.baseline:
            env["SQ_BASELINE"] = request.baseline
        path = self.log_path(request.build_id)
        with path.open("ab") as out:
            proc = await asyncio.create_subprocess_shell(
                request.command,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            build.pid = proc.pid
            try:
                async with asyncio.timeout(request.timeout_s):
                    return await proc.wait()
            except TimeoutError:
                return None
            finally:
                if proc.returncode is None:
                    self._kill(build)
                    await proc.wait()

    def _kill(self, build: _Build) -> None:
        if build.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(build.pid, signal.SIGKILL)

    def _write_log(self, build_id: str, text: str) -> None:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path(build_id).open("a", encoding="utf-8") as out:
            out.write(text)

    def _update(self, build: _Build, **changes: object) -> None:
        build.status = dataclasses.replace(build.status, **changes)  # type: ignore[arg-type]

    def _finish(
        self, build: _Build, state: BuildState, reason: str, exit_code: int | None = None
    ) -> None:
        if build.status.state.finished:
            return
        self._update(
            build,
            state=state,
            reason=reason,
            exit_code=exit_code,
            finished_at_ms=self._clock.now_ms(),
        )
