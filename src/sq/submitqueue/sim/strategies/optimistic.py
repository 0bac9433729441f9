"""Optimistic queue (Zuul's dependent pipeline): every change is built on top of everything ahead
of it, assuming it all passes.

When a build fails, its change is marked failing and every change behind it that was built on it
is restarted without it, on top of the nearest non-failing changes ahead. A failing change is
rejected when it reaches the front; if something ahead of it fails too, its own failure may have
been that one's fault, so it is rebuilt like the others. Conflicts are not analysed: the queue is
one line. At most `capacity` builds run at once, given to changes in queue order.
"""

from __future__ import annotations

from dataclasses import dataclass

from sq.submitqueue.sim.ledger import Ledger
from sq.submitqueue.sim.strategies import Arrival, arrivals, finish_build, start_build
from sq.submitqueue.sim.workload import Workload


@dataclass(slots=True)
class _Item:
    change: int
    base: tuple[int, ...] = ()
    build: int | None = None
    running: bool = False
    passed: bool | None = None

    def reset(self) -> None:
        self.base, self.build, self.running, self.passed = (), None, False, None


class OptimisticStrategy:
    name = "optimistic"

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity

    def run(self, workload: Workload, ledger: Ledger) -> None:
        events = arrivals(workload)
        queue: list[_Item] = []
        by_build: dict[int, _Item] = {}
        while events and events.next_time() <= workload.horizon_ms:
            now, due = events.pop_instant()
            for event in due:
                if isinstance(event, Arrival):
                    queue.append(_Item(event.change))
                    continue
                item = by_build.pop(event.build_id, None)
                passed = finish_build(workload, ledger, event.build_id, now)
                if item is None or passed is None:
                    continue  # a build that was cancelled when its item was reset
                item.running, item.passed = False, passed
                if not passed:
                    self._reset_behind(queue, item, ledger, by_build, now)
            self._settle_front(queue, ledger, now)
            running = sum(1 for i in queue if i.running)
            ahead: list[int] = []
            for item in queue:
                if running >= self.capacity:
                    break
                if item.build is None:
                    item.base = tuple(ahead)
                    item.build = start_build(workload, ledger, events, (*item.base, item.change), now)
                    item.running = True
                    by_build[item.build] = item
                    running += 1
                if item.passed is not False:
                    ahead.append(item.change)

    @staticmethod
    def _reset_behind(
        queue: list[_Item], failed: _Item, ledger: Ledger, by_build: dict[int, _Item], now: int
    ) -> None:
        for item in queue:
            if failed.change in item.base:
                if item.running and item.build is not None:
                    ledger.cancel_build(item.build, now)
                    by_build.pop(item.build, None)
                item.reset()

    @staticmethod
    def _settle_front(queue: list[_Item], ledger: Ledger, now: int) -> None:
        while queue and queue[0].passed is not None:
            front = queue.pop(0)
            assert front.build is not None
            if front.passed:
                ledger.land((front.change,), front.build, now)
            else:
                ledger.reject(front.change, now)
