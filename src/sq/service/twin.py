"""Bench only (`bench/twin.py`): a change provider and a build runner that stand for the world of
one simulator workload, so that `sq serve` processes replay it (provider `twin`, runner `twin`,
with the queue's `twin` section naming the workload).

A change is `fake://twin.example/c<index>`. Each conflicting pair (a, b) of the workload is one
file, `pair/<a>-<b>`, that both changes touch, so a file-granularity path-overlap analyzer sees
exactly the workload's conflicts (a URI is too short to carry them, so every process regenerates
the workload from the section). A build of a path verifies its last layer (the head) on the layers
before it: it lasts the head's build time divided by the compression factor and passes iff every
change layered in it is good (`Workload.passes`, the simulator's rule), then reports its end at
once, as the command runner does. With a `journal`, the runner appends one JSON line per build
start and end, in wall-clock epoch milliseconds, which the bench reads back into a ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sq.platform.build import BuildRequest, BuildState, BuildStatus, UnknownBuildError
from sq.service.settings_twin import TwinConfig
from sq.sim.runner import Scenario, paper_scenario, small_team_scenario
from sq.sim.workload import Workload, generate
from sq.submitqueue.entity.request import ChangedFile, ChangeInfo, Request
from sq.submitqueue.extension.changeprovider import ChangeProviderError

URI_PREFIX = "fake://twin.example/c"
OnFinish = Callable[[BuildRequest, BuildStatus], Awaitable[None]]


def scenario_of(config: TwinConfig) -> Scenario:
    """The simulator's scenario with the section's windows (the drain is the scenario's)."""
    if config.scenario == "paper":
        base = paper_scenario(config.failure_probability)
    else:
        base = small_team_scenario(config.failure_probability)
    spec = dataclasses.replace(
        base.workload,
        warmup_hours=config.warmup_hours,
        window_hours=config.window_hours,
        tail_hours=config.tail_hours,
    )
    return dataclasses.replace(base, workload=spec)


def workload_of(config: TwinConfig) -> Workload:
    return generate(scenario_of(config).workload, config.seed)


def change_uri(index: int) -> str:
    return f"{URI_PREFIX}{index}"


def index_of(uri: str) -> int:
    if not uri.startswith(URI_PREFIX) or not uri[len(URI_PREFIX) :].isdigit():
        raise ChangeProviderError(f"twin: {uri!r} is not a twin change")
    return int(uri[len(URI_PREFIX) :])


def _now_ms() -> float:
    return time.time() * 1000


class TwinChangeProvider:
    """Each change's files are the pairs it conflicts in (one added line each)."""

    def __init__(self, workload: Workload) -> None:
        self._workload = workload

    async def get(self, request: Request) -> list[ChangeInfo]:
        return [ChangeInfo(uri=uri, files=self.files(self._index(uri))) for uri in request.uris]

    def files(self, index: int) -> tuple[ChangedFile, ...]:
        pairs = (tuple(sorted((index, other))) for other in self._workload.neighbors(index))
        return tuple(
            ChangedFile(path=f"pair/{a}-{b}", lines_added=1) for a, b in sorted(set(pairs))
        )

    def _index(self, uri: str) -> int:
        index = index_of(uri)
        if index >= len(self._workload.changes):
            raise ChangeProviderError(f"twin: {uri!r} is past the workload's last change")
        return index


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

    def __init__(
        self,
        workload: Workload,
        factor: float,
        *,
        on_finish: OnFinish | None = None,
        journal: Path | None = None,
    ) -> None:
        self._workload = workload
        self._factor = factor
        self.on_finish = on_finish
        self._journal = journal
        self.builds: dict[str, TwinBuild] = {}
        self._status: dict[str, BuildStatus] = {}
        self._requests: dict[str, BuildRequest] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def trigger(self, request: BuildRequest) -> BuildStatus:
        known = self._status.get(request.build_id)
        if known is not None:
            return known
        try:
            included = tuple(index_of(layer.name) for layer in request.layers)
        except ChangeProviderError as exc:
            return BuildStatus(build_id=request.build_id, state=BuildState.ERROR, reason=str(exc))
        build = TwinBuild(
            seq=len(self.builds), build_id=request.build_id, included=included, start_ms=_now_ms()
        )
        self.builds[request.build_id] = build
        self._requests[request.build_id] = request
        self._record({"build": build.build_id, "included": included, "start_ms": build.start_ms})
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
        build.end_ms, build.cancelled = _now_ms(), True
        self._record({"build": build_id, "end_ms": build.end_ms, "cancelled": True})
        return await self._conclude(build_id, BuildState.CANCELLED)

    async def log(self, build_id: str) -> str:
        return f"twin build {build_id}\n" if build_id in self._status else ""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        """Drops the builds under way (a stopped process's builds end with it)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _end_after(self, build: TwinBuild, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        passed = self._workload.passes(build.included, "build", build.seq)
        build.end_ms, build.passed = _now_ms(), passed
        self._tasks.pop(build.build_id, None)
        self._record({"build": build.build_id, "end_ms": build.end_ms, "passed": passed})
        await self._conclude(build.build_id, BuildState.PASSED if passed else BuildState.FAILED)

    async def _conclude(self, build_id: str, state: BuildState) -> BuildStatus:
        status = dataclasses.replace(self._status[build_id], state=state)
        self._status[build_id] = status
        if self.on_finish is not None:
            await self.on_finish(self._requests[build_id], status)
        return status

    def _record(self, entry: dict[str, object]) -> None:
        if self._journal is not None:
            with self._journal.open("a") as out:
                out.write(json.dumps(entry) + "\n")


def read_journal(path: Path) -> list[TwinBuild]:
    """The builds a runner's journal records, in the order they started."""
    builds: dict[str, TwinBuild] = {}
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if "start_ms" in entry:
            builds[entry["build"]] = TwinBuild(
                seq=len(builds),
                build_id=entry["build"],
                included=tuple(entry["included"]),
                start_ms=entry["start_ms"],
            )
            continue
        build = builds[entry["build"]]
        build.end_ms = entry["end_ms"]
        build.passed = entry.get("passed")
        build.cancelled = bool(entry.get("cancelled"))
    return list(builds.values())
