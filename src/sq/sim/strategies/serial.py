"""Serial queue: one build at a time, each change on top of everything landed before it."""

from __future__ import annotations

from collections import deque

from sq.sim.ledger import Ledger
from sq.sim.strategies import Arrival, arrivals, finish_build, start_build
from sq.sim.workload import Workload


class SerialStrategy:
    name = "serial"

    def run(self, workload: Workload, ledger: Ledger) -> None:
        events = arrivals(workload)
        waiting: deque[int] = deque()
        current: tuple[int, int] | None = None  # (change, build id)
        while events and events.next_time() <= workload.horizon_ms:
            now, due = events.pop_instant()
            for event in due:
                if isinstance(event, Arrival):
                    waiting.append(event.change)
                    continue
                assert current is not None
                assert current[1] == event.build_id
                change, build_id = current
                if finish_build(workload, ledger, build_id, now):
                    ledger.land((change,), build_id, now)
                else:
                    ledger.reject(change, now)
                current = None
            if current is None and waiting:
                change = waiting.popleft()
                current = (change, start_build(workload, ledger, events, (change,), now))
