"""The speculate run's pure part at depth: finalize and the value speculator, no storage.

The deep run of `pipeline_overhead.py` lands changes one after another through the `all`
analyzer, so every head depends on every batch ahead of it and a run's verdict rules and path
values walk about heads x dependencies entries. This builds that snapshot in memory: `--landed`
finished batches, then N speculating heads, each depending on up to `--window` batches before
it and holding one funded path that assumes all of them succeed (passed, except the last four:
building, the whole budget). It times `finalize` and `ValueSpeculator.speculate` on it (CPU
time of this process, the steadier figure on a shared machine) and checks that the front head
merges, every other head waits and nothing is proposed: the state the deep run spends most of
its runs in. "Speculator" asks one speculator again, as the queue's does while heads only land
from the front (it reuses what it can, see `rank.WeightMemo`); "cold" asks a new one each time.
"Fresh" is the state right after a deep burst's intake: the first four heads building, every other
head without a path yet, so the speculator enumerates a stream for every one of them (the state
the deep pipeline profile found it spending its time in; `head_stream_of`'s per-run memo of each
dependency's part is what keeps it from walking heads x dependencies from scratch).

    .venv/bin/python bench/speculate_depth.py [--heads 100 300 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

from benchargs import parse_with_quick
from sq.submitqueue.core.speculation.finalize import finalize
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.speculator.value import ValueSpeculator

BUDGET = 4


def deep_snapshot(heads: int, landed: int, window: int) -> SpeculationSnapshot:
    ids = [BatchID(f"q/batch/{i}") for i in range(landed + heads)]
    batches: list[Batch] = []
    sets: list[PathSet] = []
    for i, bid in enumerate(ids):
        deps = tuple(ids[max(0, i - window) : i])
        state = BatchState.SUCCEEDED if i < landed else BatchState.SPECULATING
        batches.append(Batch(id=bid, queue="q", dependencies=deps, state=state))
        if i < landed:
            continue
        assumed = tuple(PathDependency(batch=d, assumption=Assumption.SUCCEEDS) for d in deps)
        path = SpeculationPath(head=bid, dependencies=assumed)
        status = PathStatus.BUILDING if i >= landed + heads - BUDGET else PathStatus.PASSED
        entry = PathEntry(id=path.id, path=path, status=status)
        sets.append(PathSet(queue="q", head=bid, paths=(entry,), version=1))
    return SpeculationSnapshot(batches=tuple(batches), path_sets=tuple(sets))


def fresh_snapshot(heads: int, landed: int, window: int) -> SpeculationSnapshot:
    """`deep_snapshot`'s queue right after intake: the budget's heads building, no other path."""
    deep = deep_snapshot(heads, landed, window)
    building = [
        dataclasses.replace(s, paths=tuple(e.with_status(PathStatus.BUILDING, 0) for e in s.paths))
        for s in deep.path_sets[:BUDGET]
    ]
    return SpeculationSnapshot(batches=deep.batches, path_sets=tuple(building))


def cpu_ms(fn: object, runs: int) -> float:
    assert callable(fn)
    samples = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        samples.append((time.process_time() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--landed", type=int, default=100, help="finished batches ahead")
    parser.add_argument("--window", type=int, default=400, help="most dependencies per head")
    parser.add_argument("--runs", type=int, default=5)
    args = parse_with_quick(parser, {"heads": [100, 300], "runs": 1})
    speculator = ValueSpeculator(ConstantScorer(0.9))
    print("| heads | finalize CPU ms | speculator CPU ms | speculator CPU ms, cold | fresh heads |")
    print("|--:|--:|--:|--:|--:|")
    result = []
    for n in args.heads:
        snapshot = deep_snapshot(n, args.landed, args.window)
        done = finalize(snapshot, now_ms=1)
        proposals = speculator.speculate(done.snapshot)
        if len(done.committed) != 1 or len(done.open_heads) != n - 1 or proposals:
            raise SystemExit(f"unexpected run at {n} heads: the workload is not what it says")
        fin = cpu_ms(lambda s=snapshot: finalize(s, now_ms=1), args.runs)
        spec = cpu_ms(lambda d=done.snapshot: speculator.speculate(d), args.runs)
        cold = cpu_ms(
            lambda d=done.snapshot: ValueSpeculator(ConstantScorer(0.9)).speculate(d), args.runs
        )
        fresh = finalize(fresh_snapshot(n, args.landed, args.window), now_ms=1)
        if fresh.committed or len(fresh.open_heads) != n or speculator.speculate(fresh.snapshot):
            raise SystemExit(f"unexpected fresh run at {n} heads: the workload is not what it says")
        new = cpu_ms(lambda d=fresh.snapshot: speculator.speculate(d), args.runs)
        print(f"| {n} | {fin:.1f} | {spec:.1f} | {cold:.1f} | {new:.1f} |")
        result += [
            f"finalize_ms_h{n}={fin:.1f}",
            f"speculator_ms_h{n}={spec:.1f}",
            f"speculator_cold_ms_h{n}={cold:.1f}",
            f"speculator_fresh_ms_h{n}={new:.1f}",
        ]
    print("RESULT " + " ".join(result))


if __name__ == "__main__":
    main()
