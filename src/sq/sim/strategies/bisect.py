"""Batch and bisect with C workers, as bors batches and Mergify runs batches with parallel checks.

Changes wait until a worker is free; then everything waiting (up to `max_batch`) becomes one
batch, built on top of the conflicting batches ahead of it that are not known to fail (several
batches in flight at once, in the dependent pipeline of `pipeline`). A passing batch lands whole
once what it was built on has landed. A batch that fails on the target alone is cut into as many
parts as there are free workers (at least two), which join the pipeline at once, each built on the
parts before it that it conflicts with: the parts ahead of the first failing one land, the failing
one is cut again. The last part is not built: the whole batch already failed, so it is presumed to
hold the culprit once every other part has landed, and is tested only if another part fails. A
failing single change is rejected.
"""

from __future__ import annotations

from collections import deque

from sq.sim.ledger import Ledger
from sq.sim.strategies import Arrival, arrivals
from sq.sim.strategies.pipeline import DependentPipeline, Item
from sq.sim.workload import Workload


class BisectStrategy:
    name = "bisect"

    def __init__(self, capacity: int = 1, max_batch: int | None = None) -> None:
        self.capacity = capacity
        self.max_batch = max_batch

    def run(self, workload: Workload, ledger: Ledger) -> None:
        events = arrivals(workload)
        waiting: deque[int] = deque()

        def split(item: Item, now: int) -> None:
            if len(item.changes) == 1:
                pipeline.reject(item, now)
                return
            pipeline.resolve(item, now, landed=False)
            count = min(len(item.changes), max(2, pipeline.free_workers()))
            size, extra = divmod(len(item.changes), count)
            parts: list[Item] = []
            start = 0
            for k in range(count):
                end = start + size + (k < extra)
                chunk = item.changes[start:end]
                parts.append(pipeline.add(chunk, presumed=tuple(parts) if k == count - 1 else ()))
                start = end

        pipeline = DependentPipeline(workload, ledger, events, self.capacity, split)
        while events and events.next_time() <= workload.horizon_ms:
            now, due = events.pop_instant()
            for event in due:
                if isinstance(event, Arrival):
                    waiting.append(event.change)
                else:
                    pipeline.finished(event.build_id, now)
            pipeline.settle(now)
            if waiting and pipeline.free_workers() > 0:
                size = len(waiting) if self.max_batch is None else self.max_batch
                pipeline.add(tuple(waiting.popleft() for _ in range(min(size, len(waiting)))))
                pipeline.settle(now)
