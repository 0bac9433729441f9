"""The real SubmitQueue stack under a simulator workload: gateway, orchestrator and runway as
`sq serve gateway orchestrator runway` wires them, in this process, on the databases given, with
the change provider and build runner swapped for the twin's (`twin_seams`). Requests are landed
through the gateway's HTTP API (ASGI, no socket) at the workload's arrival times divided by the
compression factor; what happened is read back into a simulator `Ledger` in virtual time
(milliseconds since the start x factor), so the simulator's own `measure` scores both."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

import sq.service.orchestrator as orchestrator_wiring
from pipeline_stack import QUEUE, TERMINAL, BenchRuntime, progress, received_since
from sq.platform.lifecycle import Group
from sq.service.access import Access
from sq.service.http import build_app
from sq.service.runtime import SERVICES
from sq.service.settings import Settings
from sq.sim.ledger import Ledger
from sq.sim.workload import Workload
from twin_seams import TwinBuild, TwinBuildRunner, TwinChangeProvider, change_uri

STACK = ("gateway", "orchestrator", "runway")
POLL_S = 0.25


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinSetup:
    workload: Workload
    factor: float
    capacity: int
    timeout_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinRun:
    ledger: Ledger
    wall_s: float
    virtual_s: float
    """The run's span in workload time: from the start to the last landing or rejection."""
    final: dict[int, str]
    """Each submitted change's final status (`landed`, `error`, `cancelled`)."""
    late_submits: int
    """Arrivals the driver posted more than a second of real time after they were due."""


def settings_for(data_dir: Path, urls: dict[str, str], setup: TwinSetup) -> Settings:
    spec = setup.workload.spec
    queue = {
        "name": QUEUE,
        "conflict_analyzer": "pathoverlap",
        "conflict_analyzer_depth": 0,
        "build_budget": setup.capacity,
        "scorer": "constant",
        "default_probability": 1.0 - spec.failure_probability,
    }
    return Settings.model_validate(
        {
            "data_dir": data_dir,
            "log": {"level": "error"},
            "mq": {"url": urls.get("queue")},
            "submitqueue": {
                "gateway_database_url": urls.get("gateway"),
                "orchestrator_database_url": urls.get("orchestrator"),
                "queues": [queue],
            },
        }
    )


@contextlib.contextmanager
def twin_seams(workload: Workload, runner: TwinBuildRunner) -> Iterator[None]:
    """The orchestrator's wiring, with every queue's provider and runner the twin's; the build
    runs' completion callback (`BuildRuns.finished`) is the runner's `on_finish`, as for the
    command runner."""
    original = orchestrator_wiring.profiles_for
    provider = TwinChangeProvider(workload)

    def profiles_for(*args: Any, **kwargs: Any) -> Any:
        runs = kwargs.get("runs", args[3] if len(args) > 3 else None)
        if runs is not None:
            runner.on_finish = runs.finished
        return [
            dataclasses.replace(p, provider=provider, runner=runner)
            for p in original(*args, **kwargs)
        ]

    orchestrator_wiring.profiles_for = profiles_for
    try:
        yield
    finally:
        orchestrator_wiring.profiles_for = original


async def run_twin(data_dir: Path, urls: dict[str, str], setup: TwinSetup) -> TwinRun:
    runtime = BenchRuntime(settings_for(data_dir, urls, setup), urls)
    runner = TwinBuildRunner(setup.workload, setup.factor)
    with twin_seams(setup.workload, runner):
        parts = [SERVICES[name](runtime) for name in STACK]
    app = build_app([r for p in parts for r in p.routers], ready=lambda: True, access=Access())
    group = Group(*[c for p in parts for c in p.components])
    await group.start()
    try:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
            driver = _Driver(http, setup)
            await driver.run()
    finally:
        await runner.close()
        await group.stop()
        await runtime.queue.close()
        runtime.dispose()
    return driver.result(runner.builds.values())


class _Driver:
    def __init__(self, http: httpx2.AsyncClient, setup: TwinSetup) -> None:
        self.http = http
        self.setup = setup
        self.t0_ms = 0.0
        self.index_of_id: dict[str, int] = {}
        self.received_ms: dict[str, int] = {}
        self.settled: dict[int, dict[str, Any]] = {}
        self.late = 0
        self.wall_s = 0.0

    def virtual_ms(self, epoch_ms: float) -> int:
        return round((epoch_ms - self.t0_ms) * self.setup.factor)

    async def run(self) -> None:
        self.t0_ms = time.time() * 1000
        submitting = asyncio.create_task(self._submit_all())
        deadline = time.monotonic() + self.setup.timeout_s
        total = len(self.setup.workload.changes)
        told = time.monotonic()
        try:
            while len(self.settled) < total:
                if time.monotonic() - told > 30:
                    told = time.monotonic()
                    done = len(self.settled)
                    progress(f"twin: {len(self.received_ms)} submitted, {done} settled")
                if submitting.done():
                    submitting.result()
                await asyncio.sleep(POLL_S)
                await self._collect()
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{len(self.settled)} of {total} settled in {self.setup.timeout_s:.0f}s"
                    )
        finally:
            submitting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await submitting
        self.wall_s = time.time() - self.t0_ms / 1000

    async def _submit_all(self) -> None:
        factor = self.setup.factor
        for change in self.setup.workload.changes:
            due_ms = self.t0_ms + change.arrival_ms / factor
            wait_s = (due_ms - time.time() * 1000) / 1000
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            elif wait_s < -1:
                self.late += 1
            body = {"queue": QUEUE, "change_uris": [change_uri(change.index)]}
            response = await self.http.post("/api/v1/requests", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"land refused: {response.status_code} {response.text}")
            accepted = response.json()
            self.index_of_id[accepted["id"]] = change.index
            self.received_ms[accepted["id"]] = accepted["received_at_ms"]
            if change.index % 50 == 0:
                progress(f"twin: submitted c{change.index}, {len(self.settled)} settled")

    async def _collect(self) -> None:
        unsettled = [
            t for i, t in self.received_ms.items() if self.index_of_id[i] not in self.settled
        ]
        if not unsettled:
            return
        for row in await received_since(self.http, min(unsettled)):
            index = self.index_of_id.get(row["id"])
            if index is not None and row["status"] in TERMINAL:
                self.settled.setdefault(index, row)

    def result(self, builds: Any) -> TwinRun:
        ledger = self._ledger(list(builds))
        ends = [r["status_at_ms"] for r in self.settled.values()]
        virtual_s = self.virtual_ms(max(ends)) / 1000 if ends else 0.0
        final = {index: row["status"] for index, row in self.settled.items()}
        return TwinRun(
            ledger=ledger,
            wall_s=self.wall_s,
            virtual_s=virtual_s,
            final=final,
            late_submits=self.late,
        )

    def _ledger(self, builds: list[TwinBuild]) -> Ledger:
        """The real run as the simulator would have recorded it, in virtual time. A landing is
        credited to the last passing build of its change that ended before it landed."""
        ledger = Ledger()
        landings = sorted(
            (self.virtual_ms(row["status_at_ms"]), index)
            for index, row in self.settled.items()
            if row["status"] == "landed"
        )
        landing_times = [t for t, _ in landings]
        record_of: dict[str, int] = {}
        for build in sorted(builds, key=lambda b: b.start_ms):
            start = self.virtual_ms(build.start_ms)
            record = ledger.start_build(build.included, start)
            record.master_landings = sum(1 for t in landing_times if t < start)
            record_of[build.build_id] = record.id
            if build.end_ms is None:
                continue
            if build.cancelled:
                ledger.cancel_build(record.id, self.virtual_ms(build.end_ms))
            else:
                ledger.finish_build(record.id, bool(build.passed), self.virtual_ms(build.end_ms))
        for landed_ms, index in landings:
            candidates = [
                r
                for r in ledger.builds
                if r.included[-1] == index and r.passed and (r.end_ms or 0) <= landed_ms
            ]
            build_id = candidates[-1].id if candidates else -1
            ledger.land((index,), build_id, landed_ms)
        for index, row in self.settled.items():
            if row["status"] != "landed":
                ledger.reject(index, self.virtual_ms(row["status_at_ms"]))
        return ledger
