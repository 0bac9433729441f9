"""The twin's stand-ins for the world outside the queue: a change provider whose changes touch the
files that make the workload's conflicts, and a build runner whose builds take the workload's
durations (compressed) and pass by the simulator's rule. Both read one simulator `Workload`.

A change is `fake://twin.example/c<index>`. Each conflicting pair (a, b) of the workload is one
file, `pair/<a>-<b>`, that both changes touch, so a file-granularity path-overlap analyzer sees
exactly the workload's conflicts. A build of a path verifies its last layer (the head) on the
layers before it: it lasts the head's build time divided by the compression factor and passes
iff every change layered in it is good (`Workload.passes`, as the simulator's `finish_build`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sq.platform.build import BuildRequest, BuildState, BuildStatus, UnknownBuildError
from sq.sim.workload import Workload
from sq.submitqueue.entity.request import ChangedFile, ChangeInfo, Request
from sq.submitqueue.extension.changeprovider import ChangeProviderError

URI_PREFIX = "fake://twin.example/c"
OnFinish = Callable[[BuildRequest, BuildStatus], Awaitable[None]]


def change_uri(index: int) -> str:
    return f"{URI_PREFIX}{index}"


def index_of(uri: str) -> int:
    if not uri.startswith(URI_PREFIX) or not uri[len(URI_PREFIX) :].isdigit():
        raise ChangeProviderError(f"twin: {uri!r} is not a twin change")
    return int(uri[len(URI_PREFIX) :])


def now_ms() -> float:
    return time.time() * 1000


class TwinChangeProvider:
    """Each change's files are the pairs it conflicts in (one added line each)."""

    def __init__(self, workload: Workload) -> None:
        self._workload = workload

    async def get(self, request: Request) -> list[ChangeInfo]:
        return [ChangeInfo(uri=uri, files=self.files(index_of(uri))) for uri in request.uris]

    def files(self, index: int) -> tuple[ChangedFile, ...]:
        pairs = (tuple(sorted((index, other))) for other in self._workload.neighbors(index))
        return tuple(
            ChangedFile(path=f"pair/{a}-{b}", lines_added=1) for a, b in sorted(set(pairs))
        )


@dataclass(slots=True, kw_only=True)
class TwinBuild:
    """One build as the runner saw it, in wall-clock epoch milliseconds (as the gateway's)."""

    seq: int
    build_id: str
    included: tuple[int, ...]
    start_ms: float
    end_ms: float | None = None
    passed: bool | None = None
    cancelled: bool = False


class TwinBuildRunner:
    """Builds that end on their own after the head's build time / `factor`, then call `on_finish`
    at once (as the command runner does), so the orchestrator need not poll to learn the end."""

    def __init__(self, workload: Workload, factor: float) -> None:
        self._workload = workload
        self._factor = factor
        self.on_finish: OnFinish | None = None
        self.builds: dict[str, TwinBuild] = {}
        self._status: dict[str, BuildStatus] = {}
        self._requests: dict[str, BuildRequest] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def trigger(self, request: BuildRequest) -> BuildStatus:
        known = self._status.get(request.build_id)
        if known is not None:
            return known
        included = tuple(index_of(layer.name) for layer in request.layers)
        build = TwinBuild(
            seq=len(self.builds), build_id=request.build_id, included=included, start_ms=now_ms()
        )
        self.builds[request.build_id] = build
        self._requests[request.build_id] = request
        status = BuildStatus(build_id=request.build_id, state=BuildState.RUNNING)
        self._status[request.build_id] = status
        delay_s = self._workload.build_ms(included[-1:]) / self._factor / 1000
        self._tasks[request.build_id] = asyncio.get_running_loop().create_task(
            self._end_after(build, delay_s)
        )
        return status

    async def status(self, build_id: str) -> BuildStatus:
        status = self._status.get(build_id)
        if status is None:
            raise UnknownBuildError(build_id)
        return status

    async def cancel(self, build_id: str) -> BuildStatus:
        status = self._status.get(build_id)
        if status is None:
            raise UnknownBuildError(build_id)
        if status.state.finished:
            return status
        task = self._tasks.pop(build_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        build = self.builds[build_id]
        build.end_ms, build.cancelled = now_ms(), True
        return await self._conclude(build_id, BuildState.CANCELLED)

    async def log(self, build_id: str) -> str:
        return f"twin build {build_id}\n" if build_id in self._status else ""

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _end_after(self, build: TwinBuild, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        passed = self._workload.passes(build.included, "build", build.seq)
        build.end_ms, build.passed = now_ms(), passed
        self._tasks.pop(build.build_id, None)
        await self._conclude(build.build_id, BuildState.PASSED if passed else BuildState.FAILED)

    async def _conclude(self, build_id: str, state: BuildState) -> BuildStatus:
        status = dataclasses.replace(self._status[build_id], state=state)
        self._status[build_id] = status
        if self.on_finish is not None:
            await self.on_finish(self._requests[build_id], status)
        return status
