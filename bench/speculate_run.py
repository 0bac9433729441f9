"""Duration of one speculate run against queue depth, on SQLite.

The run measured is the real controller's (`SpeculateController.run`): read the queue's snapshot
from the orchestrator's SQLite database in one transaction, admit, finalize, ask the standard
Speculator (best-first generator with the heuristic scorer, which reads each open dependency's
change details; sticky allocator), check its proposals, and dispatch them with compare-and-swap
writes and publishes to an in-memory message queue.

Workload at depth N: N in-flight batches, each depending on the 8 batches before it (the first
ones on 8 batches that already landed), so every batch has exactly 8 dependencies. The newest
batch is still `created` (the arrival that triggers the run); every other one is `speculating`
and has one funded path, its most likely one, whose build is running. The budget is (N - 1) + 4, so
the run folds N running builds, waits on N heads, pulls N + 4 candidates, and funds 4 new paths.

`--history N` puts N more landed batches (with their requests and change claims) before the
workload: a queue's tables keep every change it ever handled, and a run must not slow down with
them. Each measurement starts from a copy of the same prepared database file, so every run does the
same work. Prints the median of `--runs` runs per depth, the ratios between depths, and whether the
cost grows no worse than linearly; the last line is `RESULT run_ms_d10=… run_ms_d100=…
run_ms_d1000=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog
from sqlalchemy.engine import Engine

from sq.platform import migrations
from sq.platform.build.fake import FakeBuildRunner
from sq.platform.clock import SystemClock
from sq.platform.db import create_engine
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import construct
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, RequestID
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.request import ChangedFile, ChangeInfo, Request, RequestState
from sq.submitqueue.extension.changeprovider.fake import FakeChangeProvider
from sq.submitqueue.extension.conflictanalyzer.all import AllConflictAnalyzer
from sq.submitqueue.extension.scorer.heuristic import EXAMPLE_BUCKETS, HeuristicScorer
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.orchestrator.changes import BatchChanges
from sq.submitqueue.orchestrator.controller.speculate import SpeculateController
from sq.submitqueue.orchestrator.pipeline import PUBLISH_ONLY, STAGES
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, Profiles, QueueProfile
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema, tables
from sq.submitqueue.orchestrator.storage.requests import details_json

QUEUE = "bench"
DEPENDENCIES = 8
NEW_PATHS = 4
DEPTHS = (10, 100, 1000)
LINEAR_SLACK = 1.25
"""A ratio up to this many times the depth ratio still counts as linear (fixed costs, noise)."""


def _id(n: int) -> BatchID:
    return BatchID(f"{QUEUE}/batch/{n}")


def _request(n: int) -> tuple[Request, ChangeInfo]:
    request = Request(
        id=RequestID(f"{QUEUE}/{n}"),
        queue=QUEUE,
        uris=(f"fake://bench/{n}",),
        state=RequestState.BATCHED,
    )
    info = ChangeInfo(
        uri=request.uris[0],
        author=f"dev{n % 7}",
        files=(ChangedFile(path=f"dir{n % 5}/f{n}.py", lines_added=n % 30),),
    )
    return request, info


def _land(engine: Engine, numbers: range) -> None:
    """Batches that already landed, with their requests and claims, in one transaction."""
    requests: list[dict[str, object]] = []
    changes: list[dict[str, object]] = []
    batches: list[dict[str, object]] = []
    for n in numbers:
        request, info = _request(n)
        requests.append(
            {
                "queue": QUEUE,
                "id": request.id,
                "uris": list(request.uris),
                "strategy": "",
                "state": RequestState.LANDED.value,
                "version": 2,
            }
        )
        changes.append(
            {
                "queue": QUEUE,
                "uri": info.uri,
                "request_id": request.id,
                "details": details_json(info),
            }
        )
        batches.append(
            {
                "queue": QUEUE,
                "id": _id(n),
                "contains": [request.id],
                "dependencies": [],
                "state": BatchState.SUCCEEDED.value,
                "version": 3,
            }
        )
    with engine.begin() as conn:
        conn.execute(tables.request.insert(), requests)
        conn.execute(tables.change.insert(), changes)
        conn.execute(tables.batch.insert(), batches)


def prepare(path: Path, depth: int, history: int = 0) -> None:
    """Write the workload of `depth` in-flight batches behind `history` + 8 landed ones into a
    fresh database at `path`."""
    engine = create_engine(f"sqlite:///{path}", synchronous="OFF")  # setup only; not measured
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    storage = OrchestratorStorage(engine)
    first = history + DEPENDENCIES + 1
    _land(engine, range(1, first))
    flight = range(first, first + depth)
    for n in flight:
        request, info = _request(n)
        storage.create_request(request)
        storage.claim_changes(request, [info])
        deps = tuple(_id(d) for d in range(n - DEPENDENCIES, n))
        state = BatchState.CREATED if n == flight[-1] else BatchState.SPECULATING
        storage.create_batch(
            Batch(id=_id(n), queue=QUEUE, contains=(request.id,), dependencies=deps, state=state)
        )
        if state is not BatchState.SPECULATING:
            continue
        best = SpeculationPath(
            head=_id(n),
            dependencies=tuple(
                PathDependency(batch=d, assumption=Assumption.SUCCEEDS) for d in deps
            ),
        )
        entry = PathEntry(id=best.id, path=best, status=PathStatus.BUILDING)
        storage.save_path_set(PathSet(queue=QUEUE, head=_id(n), paths=(entry,)))
        build_id = BuildID(f"{_id(n)}/{entry.id[:16]}/1")
        storage.create_build(
            QUEUE,
            Build(
                id=build_id,
                batch_id=_id(n),
                path_id=entry.id,
                attempt=1,
                status=BuildStatus.RUNNING,
            ),
        )
        storage.link_build(QUEUE, entry.id, 1, build_id)
    engine.dispose()


def _controller(storage: OrchestratorStorage, depth: int) -> SpeculateController:
    profile = QueueProfile(
        name=QUEUE,
        provider=FakeChangeProvider(),
        analyzer=AllConflictAnalyzer(),
        speculator=StandardSpeculator(
            HeuristicScorer(EXAMPLE_BUCKETS, BatchChanges(storage).lines), depth - 1 + NEW_PATHS
        ),
        runner=FakeBuildRunner(),
    )
    clock = SystemClock()
    deps = OrchestratorDeps(storage=storage, profiles=Profiles([profile]), clock=clock)
    queue = MessageQueue(MemoryQueueStore(), clock=clock)
    pipeline = construct(queue, deps, STAGES, publish_only=PUBLISH_ONLY)
    controller = pipeline.controllers[m.TOPIC_SPECULATE]
    assert isinstance(controller, SpeculateController)
    return controller


async def measure_once(
    template: Path, scratch: Path, depth: int, history: int = 0
) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run on a fresh copy of `template`; checks the run did
    its work. CPU time (every thread of the process) is the steadier figure on a busy machine."""
    shutil.copyfile(template, scratch)
    engine = create_engine(f"sqlite:///{scratch}")
    storage = OrchestratorStorage(engine)
    controller = _controller(storage, depth)
    newest_n = history + DEPENDENCIES + depth
    newest = _id(newest_n)
    started, cpu = time.perf_counter(), time.process_time()
    await controller.run(QUEUE, trigger=newest)
    elapsed_ms = (time.perf_counter() - started) * 1000
    cpu_ms = (time.process_time() - cpu) * 1000
    admitted = storage.get_batch(QUEUE, newest)
    flight = range(newest_n - depth + 1, newest_n + 1)
    sets = [storage.get_path_set(QUEUE, _id(n)) for n in flight]
    engine.dispose()
    if admitted is None or admitted.state is not BatchState.SPECULATING:
        raise SystemExit(f"depth {depth}: the run did not admit {newest}")
    funded = sum(1 for s in sets if s for e in s.paths if e.status is PathStatus.PENDING)
    if funded != NEW_PATHS:
        raise SystemExit(f"depth {depth}: the run funded {funded} paths, not {NEW_PATHS}")
    return elapsed_ms, cpu_ms


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per depth (median reported)")
    parser.add_argument("--quick", action="store_true", help="smoke test: one run per depth")
    parser.add_argument(
        "--history", type=int, default=0, help="batches that landed before the workload"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    depths = DEPTHS
    runs = 1 if args.quick else max(1, args.runs)
    medians: dict[int, float] = {}
    cpu: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="sq-speculate-bench-") as tmp:
        for depth in depths:
            template = Path(tmp) / f"d{depth}.db"
            began = time.perf_counter()
            prepare(template, depth, args.history)
            print(f"prepared depth {depth} in {time.perf_counter() - began:.1f}s", file=sys.stderr)
            samples = [
                await measure_once(template, Path(tmp) / "run.db", depth, args.history)
                for _ in range(runs)
            ]
            medians[depth] = statistics.median(wall for wall, _ in samples)
            cpu[depth] = statistics.median(used for _, used in samples)
            print(
                f"depth {depth}: " + ", ".join(f"{w:.1f}" for w, _ in samples) + " ms",
                file=sys.stderr,
            )
    print(
        f"one speculate run, median of {runs} per depth (SQLite, {DEPENDENCIES} dependencies "
        f"per batch, {args.history + DEPENDENCIES} batches landed before)"
    )
    print(
        f"{'depth':>6} {'wall ms':>9} {'wall/batch':>11} {'cpu ms':>8} {'ratio':>6} "
        f"{'cpu ratio':>10} {'depth ratio':>12}"
    )
    linear = {"wall": True, "cpu": True}
    previous: int | None = None
    for depth in depths:
        ratio, cpu_ratio, depth_ratio = "-", "-", "-"
        if previous is not None:
            allowed = LINEAR_SLACK * depth / previous
            r, c = medians[depth] / medians[previous], cpu[depth] / cpu[previous]
            ratio, cpu_ratio, depth_ratio = f"{r:.2f}", f"{c:.2f}", f"{depth / previous:.0f}"
            linear = {
                "wall": linear["wall"] and r <= allowed,
                "cpu": linear["cpu"] and c <= allowed,
            }
        print(
            f"{depth:>6} {medians[depth]:>9.1f} {medians[depth] / depth:>11.3f} "
            f"{cpu[depth]:>8.1f} {ratio:>6} {cpu_ratio:>10} {depth_ratio:>12}"
        )
        previous = depth
    names = ", ".join(f"d{b}/d{a}" for a, b in itertools.pairwise(depths))
    verdicts = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in linear.items())
    print(f"ratios {names}; growth no worse than linear (ratio <= {LINEAR_SLACK} x depth ratio):")
    print(f"  {verdicts}")
    keys = ("run_ms_d10", "run_ms_d100", "run_ms_d1000")
    print("RESULT " + " ".join(f"{k}={medians[d]:.1f}" for k, d in zip(keys, depths, strict=True)))


if __name__ == "__main__":
    asyncio.run(main())
