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

from sq.submitqueue.sim.events import EventQueue
from sq.submitqueue.sim.ledger import Ledger
from sq.submitqueue.sim.strategies import Arrival, Event, arrivals, finish_build, start_build
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
                if item is not None and passed is not None:
                    item.running, item.passed = False, passed
            while True:
                self._reset_stale(queue, ledger, by_build, now)
                if not self._settle_front(queue, ledger, now):
                    break
            self._start_builds(workload, ledger, events, queue, by_build, now)

    @staticmethod
    def _reset_stale(
        queue: list[_Item], ledger: Ledger, by_build: dict[int, _Item], now: int
    ) -> None:
        """Restart every item not built on exactly the non-failing items now ahead of it."""
        ahead: list[int] = []
        for item in queue:
            if item.build is not None and not _built_on(item, ahead, ledger):
                if item.running:
                    ledger.cancel_build(item.build, now)
                    by_build.pop(item.build, None)
                item.reset()
            if item.passed is not False:
                ahead.append(item.change)

    @staticmethod
    def _settle_front(queue: list[_Item], ledger: Ledger, now: int) -> bool:
        """Land or reject the front while its verdict is in; whether anything left the queue."""
        settled = False
        while queue and queue[0].passed is not None:
            front = queue.pop(0)
            assert front.build is not None
            if front.passed:
                ledger.land((front.change,), front.build, now)
            else:
                ledger.reject(front.change, now)
            settled = True
        return settled

    def _start_builds(
        self,
        workload: Workload,
        ledger: Ledger,
        events: EventQueue[Event],
        queue: list[_Item],
        by_build: dict[int, _Item],
        now: int,
    ) -> None:
        running = sum(1 for i in queue if i.running)
        ahead: list[int] = []
        for item in queue:
            if running >= self.capacity:
                break
            if item.build is None:
                item.base = tuple(ahead)
                included = (*item.base, item.change)
                item.build = start_build(workload, ledger, events, included, now)
                item.running = True
                by_build[item.build] = item
                running += 1
            if item.passed is not False:
                ahead.append(item.change)


def _built_on(item: _Item, ahead: list[int], ledger: Ledger) -> bool:
    """The item's base is what has landed since it started, then exactly `ahead`."""
    base = item.base
    cut = len(base) - len(ahead)
    if cut < 0 or list(base[cut:]) != ahead:
        return False
    return all(c in ledger.landed_at for c in base[:cut])
