"""The real SubmitQueue stack under a simulator workload: gateway, orchestrator and runway with
the bench-only `twin` provider and runner (`sq.service.twin`), whose queue section names the
workload (scenario, windows, seed, factor), so every process regenerates the same one.

Two modes. `process` (the default): three `sq serve` OS processes (gateway, orchestrator, runway)
reading one `sq.yaml`, on free loopback ports, stopped by their own pids; arrivals are posted to
the gateway over HTTP. `inprocess`: the same services wired as `sq serve` wires them, in this
process, the gateway's API through ASGI (a fallback, and how the twin ran before).

Requests are landed at the workload's arrival times divided by the compression factor; what
happened is read back into a simulator `Ledger` in virtual time (milliseconds since the start x
factor) from the gateway's statuses and the twin runner's journal of builds, so the simulator's
own `measure` scores both sides."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from benchnet import free_port
from pipeline_stack import QUEUE, TERMINAL, BenchRuntime, progress, received_since
from sq.platform.lifecycle import Group
from sq.service.access import Access
from sq.service.http import build_app
from sq.service.runtime import SERVICES
from sq.service.settings import Settings
from sq.service.settings_twin import TwinConfig
from sq.service.twin import TwinBuild, change_uri, read_journal
from sq.sim.ledger import Ledger
from sq.sim.workload import Workload

STACK = ("gateway", "orchestrator", "runway")
MODES = ("process", "inprocess")
POLL_S = 0.25
READY_S = 120.0
STOP_S = 30.0
UNSETTLED_NAMED = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class TwinSetup:
    workload: Workload
    twin: TwinConfig
    """The queue's twin section; `workload` is `workload_of(twin)`."""
    capacity: int
    timeout_s: float
    """How long to wait for every change to settle, from the start; then the run ends with the
    rest unsettled."""
    mode: str = "process"


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
    hops: Hops
    unsettled: dict[int, str]
    """Each change that had not settled by the timeout, with its last status: the simulator's
    `measure` counts them as censored, so P50 and landed/arrived are then lower bounds."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Hops:
    """Where a landed change's hold (its passing build's end to its `landed` status) goes, in
    real seconds, one value per landed change. `ready` is the later of the build's end and the
    `landed` status of the last earlier-arrived conflicting change that landed before it."""

    waiting: list[float]
    """Build end to ready: a conflicting change ahead had not landed yet."""
    to_speculated: list[float]
    """Ready to the change's last `speculated` status: the speculate run that sends it to merge
    (after the dependency's mergesignal)."""
    to_landing: list[float]
    """`speculated` to `landing`: the merge stage."""
    landing_to_landed: list[float]
    """`landing` to `landed`: runway's merge, mergesignal, conclude, the gateway's log."""
    chain: list[int]
    """How many earlier conflicting changes landed between its build's end and its landing."""


def config_for(data_dir: Path, urls: dict[str, str], setup: TwinSetup) -> dict[str, Any]:
    """The `sq.yaml` every process reads: the twin queue mirroring the simulator's `ours` (the
    default speculator, budget = C, the constant scorer at 1 - p)."""
    twin = setup.twin.model_copy(update={"journal": data_dir / "twin-builds.jsonl"})
    queue = {
        "name": QUEUE,
        "provider": "twin",
        "build": {"runner": "twin"},
        "twin": twin.model_dump(mode="json"),
        "conflict_analyzer": "pathoverlap",
        "conflict_analyzer_depth": 0,
        "build_budget": setup.capacity,
        "scorer": "constant",
        "default_probability": 1.0 - setup.twin.failure_probability,
    }
    return {
        "data_dir": str(data_dir),
        "log": {"level": "error"},
        "mq": {"url": urls.get("queue")},
        "submitqueue": {
            "gateway_database_url": urls.get("gateway"),
            "orchestrator_database_url": urls.get("orchestrator"),
            "queues": [queue],
        },
    }


async def run_twin(data_dir: Path, urls: dict[str, str], setup: TwinSetup) -> TwinRun:
    config = config_for(data_dir, urls, setup)
    stack = _processes if setup.mode == "process" else _in_process
    async with stack(data_dir, urls, config) as http:
        driver = _Driver(http, setup)
        await driver.run()
        await driver.read_histories()
    return driver.result(read_journal(data_dir / "twin-builds.jsonl"))


@contextlib.asynccontextmanager
async def _in_process(
    data_dir: Path, urls: dict[str, str], config: dict[str, Any]
) -> AsyncIterator[httpx2.AsyncClient]:
    runtime = BenchRuntime(Settings.model_validate(config), urls)
    parts = [SERVICES[name](runtime) for name in STACK]
    app = build_app([r for p in parts for r in p.routers], ready=lambda: True, access=Access())
    group = Group(*[c for p in parts for c in p.components])
    await group.start()
    try:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
            yield http
    finally:
        await group.stop()
        await runtime.queue.close()
        runtime.dispose()


@contextlib.asynccontextmanager
async def _processes(
    data_dir: Path, urls: dict[str, str], config: dict[str, Any]
) -> AsyncIterator[httpx2.AsyncClient]:
    """`sq serve NAME` per service, one shared data directory (the SQLite files, when there is
    no server, and the runner's journal); each is stopped by its own pid."""
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for name in STACK:
            procs[name] = _spawn(name, data_dir, config)
            if not urls:  # SQLite files: one process migrates them at a time
                await _ready(name, *procs[name], data_dir)
        # PostgreSQL: started together (migrations take an advisory lock).
        await asyncio.gather(*(_ready(n, p, port, data_dir) for n, (p, port) in procs.items()))
        base = f"http://127.0.0.1:{procs['gateway'][1]}"
        async with httpx2.AsyncClient(base_url=base, timeout=60) as http:
            yield http
    finally:
        _stop([p for p, _ in procs.values()])


def _spawn(
    name: str, data_dir: Path, config: dict[str, Any]
) -> tuple[subprocess.Popen[bytes], int]:
    path = data_dir / "sq.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = free_port()
    argv = [
        sys.executable, "-m", "sq", "serve", name, "--config", str(path),
        "--data-dir", str(data_dir), "--port", str(port),
    ]  # fmt: skip
    with (data_dir / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen(
            argv, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, port


async def _ready(name: str, proc: subprocess.Popen[bytes], port: int, data_dir: Path) -> None:
    deadline = time.monotonic() + READY_S
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sq serve {name} exited; see {data_dir / f'{name}.log'}")
            with contextlib.suppress(httpx2.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"sq serve {name} not ready in {READY_S:.0f}s")
            await asyncio.sleep(0.1)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process's own group (its pid leads it), then SIGKILL what is left."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_S)


class _Driver:
    def __init__(self, http: httpx2.AsyncClient, setup: TwinSetup) -> None:
        self.http = http
        self.setup = setup
        self.factor = setup.twin.factor
        self.t0_ms = 0.0
        self.index_of_id: dict[str, int] = {}
        self.received_ms: dict[str, int] = {}
        self.settled: dict[int, dict[str, Any]] = {}
        self.latest: dict[int, dict[str, Any]] = {}
        """Each submitted change's last row from the gateway's list."""
        self.late = 0
        self.wall_s = 0.0
        self.landing_ms: dict[int, int] = {}
        self.speculated_ms: dict[int, int] = {}
        self.left: dict[int, str] = {}

    def virtual_ms(self, epoch_ms: float) -> int:
        return round((epoch_ms - self.t0_ms) * self.factor)

    async def run(self) -> None:
        """Submits every arrival and waits until each has settled or the setup's timeout has
        passed; then `left` names what has not settled, with its last status."""
        self.t0_ms = time.time() * 1000
        submitting = asyncio.create_task(self._submit_all())
        deadline = time.monotonic() + self.setup.timeout_s
        total = len(self.setup.workload.changes)
        told = time.monotonic()
        try:
            while len(self.settled) < total:
                if time.monotonic() - told > 30:
                    told = time.monotonic()
                    self._tell_progress()
                if submitting.done():
                    submitting.result()
                await asyncio.sleep(POLL_S)
                await self._collect()
                if time.monotonic() > deadline:
                    progress(f"twin: {len(self.settled)} of {total} settled by the timeout")
                    break
        finally:
            submitting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await submitting
        self.wall_s = time.time() - self.t0_ms / 1000
        self.left = self.unsettled()

    def _tell_progress(self) -> None:
        """Counts, and once few are left, which ones and where they stand (a stall shows)."""
        left = self.unsettled()
        named = ""
        every_one_submitted = len(self.received_ms) == len(self.setup.workload.changes)
        if every_one_submitted and len(left) <= UNSETTLED_NAMED:
            named = "; left: " + ", ".join(f"c{i} {why}" for i, why in sorted(left.items()))
        submitted = len(self.received_ms)
        progress(f"twin: {submitted} submitted, {len(self.settled)} settled{named}")

    def unsettled(self) -> dict[int, str]:
        """Each change not settled yet, with its last status and for how long (real seconds)."""
        now_ms = time.time() * 1000
        submitted = set(self.index_of_id.values())
        left: dict[int, str] = {}
        for change in self.setup.workload.changes:
            if change.index in self.settled:
                continue
            row = self.latest.get(change.index)
            if row is None:
                left[change.index] = "submitted" if change.index in submitted else "not submitted"
                continue
            since_s = (now_ms - row["status_at_ms"]) / 1000
            error = f" ({row['last_error']})" if row.get("last_error") else ""
            left[change.index] = f"{row['status']} for {since_s:.0f} s{error}"
        return left

    async def _submit_all(self) -> None:
        for change in self.setup.workload.changes:
            due_ms = self.t0_ms + change.arrival_ms / self.factor
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
        try:
            rows = await received_since(self.http, min(unsettled))
        except httpx2.HTTPError as exc:  # a loaded gateway's 5xx or timeout: read at the next poll
            progress(f"twin: reading the statuses failed ({exc!r}); again at the next poll")
            return
        for row in rows:
            index = self.index_of_id.get(row["id"])
            if index is None:
                continue
            self.latest[index] = row
            if row["status"] in TERMINAL:
                self.settled.setdefault(index, row)

    async def read_histories(self) -> None:
        """Each landed request's last `speculated` (a speculate run sent it to merge) and
        `landing` statuses (the merge stage sent it to runway)."""
        for request_id, index in self.index_of_id.items():
            if self.settled.get(index, {}).get("status") != "landed":
                continue
            queue, _, number = request_id.rpartition("/")
            response = await self.http.get(f"/api/v1/requests/{queue}/{number}/history")
            for event in response.json().get("events", []):
                if event["type"] == "status" and event["status"] == "landing":
                    self.landing_ms[index] = event["timestamp_ms"]
                if event["type"] == "status" and event["status"] == "speculated":
                    self.speculated_ms[index] = event["timestamp_ms"]

    def hops(self, builds: list[TwinBuild]) -> Hops:
        workload = self.setup.workload
        landed = {
            i: row["status_at_ms"] for i, row in self.settled.items() if row["status"] == "landed"
        }
        passed: dict[int, float] = {}
        for build in builds:
            head = build.included[-1]
            end = build.end_ms
            if build.passed and end is not None and head in landed and end <= landed[head]:
                passed[head] = max(passed.get(head, 0.0), end)
        hops = Hops(waiting=[], to_speculated=[], to_landing=[], landing_to_landed=[], chain=[])
        for i, landed_ms in landed.items():
            if i not in passed or i not in self.landing_ms:
                continue
            end, landing = passed[i], self.landing_ms[i]
            speculated = self.speculated_ms.get(i, landing)
            ahead = [landed[j] for j in workload.neighbors(i) if j < i and j in landed]
            before = [t for t in ahead if t <= speculated]
            ready = max([end, *before])
            hops.waiting.append((ready - end) / 1000)
            hops.to_speculated.append((speculated - ready) / 1000)
            hops.to_landing.append((landing - speculated) / 1000)
            hops.landing_to_landed.append((landed_ms - landing) / 1000)
            hops.chain.append(sum(1 for t in before if t > end))
        return hops

    def result(self, builds: list[TwinBuild]) -> TwinRun:
        ledger = self._ledger(builds)
        ends = [r["status_at_ms"] for r in self.settled.values()]
        virtual_s = self.virtual_ms(max(ends)) / 1000 if ends else 0.0
        final = {index: row["status"] for index, row in self.settled.items()}
        return TwinRun(
            ledger=ledger,
            wall_s=self.wall_s,
            virtual_s=virtual_s,
            final=final,
            late_submits=self.late,
            hops=self.hops(builds),
            unsettled=self.left,
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
        for build in sorted(builds, key=lambda b: b.start_ms):
            start = self.virtual_ms(build.start_ms)
            record = ledger.start_build(build.included, start)
            record.master_landings = sum(1 for t in landing_times if t < start)
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
