"""Batch and bisect (bors-style): test everything waiting as one batch on top of the target; a
passing batch lands whole, a failing one is split in halves that are tested in turn (first half
first), down to single changes, which are rejected. One build at a time, as bors does."""

from __future__ import annotations

from collections import deque

from sq.submitqueue.sim.ledger import Ledger
from sq.submitqueue.sim.strategies import Arrival, arrivals, finish_build, start_build
from sq.submitqueue.sim.workload import Workload


class BisectStrategy:
    name = "bisect"

    def __init__(self, max_batch: int | None = None) -> None:
        self.max_batch = max_batch

    def run(self, workload: Workload, ledger: Ledger) -> None:
        events = arrivals(workload)
        waiting: deque[int] = deque()
        halves: deque[tuple[int, ...]] = deque()  # split batches still to test, next first
        current: tuple[tuple[int, ...], int] | None = None
        while events and events.next_time() <= workload.horizon_ms:
            now, due = events.pop_instant()
            for event in due:
                if isinstance(event, Arrival):
                    waiting.append(event.change)
                    continue
                assert current is not None
                assert current[1] == event.build_id
                batch, build_id = current
                current = None
                if finish_build(workload, ledger, build_id, now):
                    ledger.land(batch, build_id, now)
                elif len(batch) == 1:
                    ledger.reject(batch[0], now)
                else:
                    middle = len(batch) // 2
                    halves.extendleft((batch[middle:], batch[:middle]))
            if current is None and (halves or waiting):
                if halves:
                    batch = halves.popleft()
                else:
                    size = len(waiting) if self.max_batch is None else self.max_batch
                    batch = tuple(waiting.popleft() for _ in range(min(size, len(waiting))))
                build_id = start_build(workload, ledger, events, batch, now, heads=len(batch))
                current = (batch, build_id)
