"""Oracle: knows every outcome in advance, so it builds each change that will land exactly once.

A bad change is turned away on arrival without a build. A good one is built (first come, first
served for the `capacity` workers) on top of the conflicting changes ahead of it that have not
landed yet, and lands once its build is done and those have landed. Its builds never flake.
"""

from __future__ import annotations

from collections import deque

from sq.sim.ledger import Ledger
from sq.sim.strategies import Arrival, Finished, arrivals
from sq.sim.workload import Workload


class OracleStrategy:
    name = "oracle"

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity

    def run(self, workload: Workload, ledger: Ledger) -> None:
        events = arrivals(workload)
        waiting: deque[int] = deque()
        unlanded: list[int] = []  # good changes seen and not landed yet, in arrival order
        built: dict[int, int] = {}  # change -> its finished build
        build_of: dict[int, int] = {}  # build -> change
        bases: dict[int, tuple[int, ...]] = {}
        running = 0
        while events and events.next_time() <= workload.horizon_ms:
            now, due = events.pop_instant()
            for event in due:
                if isinstance(event, Arrival):
                    if workload.changes[event.change].good:
                        waiting.append(event.change)
                        unlanded.append(event.change)
                    else:
                        ledger.reject(event.change, now)
                elif isinstance(event, Finished):
                    ledger.finish_build(event.build_id, True, now)
                    built[build_of[event.build_id]] = event.build_id
                    running -= 1
            self._land_ready(ledger, unlanded, built, bases, now)
            while waiting and running < self.capacity:
                change = waiting.popleft()
                base = tuple(d for d in unlanded if d < change and workload.conflicts(d, change))
                bases[change] = base
                record = ledger.start_build((*base, change), now)
                build_of[record.id] = change
                events.push(now + workload.build_ms((change,)), Finished(record.id))
                running += 1

    @staticmethod
    def _land_ready(
        ledger: Ledger,
        unlanded: list[int],
        built: dict[int, int],
        bases: dict[int, tuple[int, ...]],
        now: int,
    ) -> None:
        progress = True
        while progress:
            progress = False
            for change in list(unlanded):
                if change in built and all(d in ledger.landed_at for d in bases[change]):
                    ledger.land((change,), built.pop(change), now)
                    unlanded.remove(change)
                    progress = True
