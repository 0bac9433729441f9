"""Optimistic queue (Zuul's dependent pipeline), one shared queue per set of conflicting changes.

Each change is built on top of the conflicting changes ahead of it that are not known to fail,
assuming they pass; a failure restarts what was built on the failing change without it, and a
failing change is rejected once everything it was built on has landed (its failure is then its
own). Changes that do not conflict never wait for or restart on each other. The mechanics are in
`pipeline`; at most `capacity` builds run at once, given to changes in arrival order.
"""

from __future__ import annotations

from sq.sim.ledger import Ledger
from sq.sim.strategies import Arrival, arrivals
from sq.sim.strategies.pipeline import DependentPipeline
from sq.sim.workload import Workload


class OptimisticStrategy:
    name = "optimistic"

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity

    def run(self, workload: Workload, ledger: Ledger) -> None:
        events = arrivals(workload)
        pipeline = DependentPipeline(
            workload, ledger, events, self.capacity, lambda item, now: pipeline.reject(item, now)
        )
        while events and events.next_time() <= workload.horizon_ms:
            now, due = events.pop_instant()
            for event in due:
                if isinstance(event, Arrival):
                    pipeline.add((event.change,))
                else:
                    pipeline.finished(event.build_id, now)
            pipeline.settle(now)
