"""Small builders shared by the speculation tests."""

from __future__ import annotations

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.snapshot import SpeculationSnapshot

S = Assumption.SUCCEEDS
F = Assumption.FAILS


def batch(batch_id: str, state: str = "speculating", deps: tuple[str, ...] = ()) -> Batch:
    return Batch(
        id=BatchID(batch_id),
        queue="q",
        dependencies=tuple(BatchID(d) for d in deps),
        state=BatchState(state),
    )


def path(head: str, *pairs: tuple[str, Assumption]) -> SpeculationPath:
    return SpeculationPath(
        head=BatchID(head),
        dependencies=tuple(PathDependency(batch=BatchID(b), assumption=a) for b, a in pairs),
    )


def entry(
    p: SpeculationPath,
    status: str,
    *,
    entry_id: str | None = None,
    attempt: int = 1,
    lost: int = 0,
):
    return PathEntry(
        id=p.id if entry_id is None else entry_id,  # type: ignore[arg-type]
        path=p,
        status=PathStatus(status),
        attempt=attempt,
        lost=lost,
    )


def pset(head: str, *entries: PathEntry, version: int = 1) -> PathSet:
    return PathSet(queue="q", head=BatchID(head), paths=entries, version=version)


def snap(*batches: Batch, sets: tuple[PathSet, ...] = ()) -> SpeculationSnapshot:
    return SpeculationSnapshot(batches=batches, path_sets=sets)


def short(p: SpeculationPath) -> str:
    """`H[D1=s,D2=f]`, the spec's notation."""
    inner = ",".join(f"{d.batch}={d.assumption.value[0]}" for d in p.dependencies)
    return f"{p.head}[{inner}]"


class TableScorer:
    def __init__(self, scores: dict[str, float], calls: list[str] | None = None) -> None:
        self.scores = scores
        self.calls = calls if calls is not None else []

    def score(self, b: Batch) -> float:
        self.calls.append(b.id)
        return self.scores[b.id]


class FailingScorer:
    def score(self, b: Batch) -> float:
        raise RuntimeError("scorer down")
