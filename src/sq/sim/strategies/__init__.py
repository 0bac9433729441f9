"""The queues under comparison. Each one replays a workload in virtual time into a ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sq.sim.events import EventQueue
from sq.sim.ledger import Ledger
from sq.sim.workload import Workload


class Strategy(Protocol):
    """Runs one workload from an empty queue until `workload.horizon_ms`.

    Contract: changes become known at their arrival time and no earlier (only the oracle may peek
    at whether they are good); every build is started and finished through `ledger`, a build's
    verdict is `workload.passes(...)` of exactly what it includes, and it lands or rejects each
    change at most once. At most `capacity` builds run at once (serial strategies use one).
    """

    name: str

    def run(self, workload: Workload, ledger: Ledger) -> None: ...


@dataclass(frozen=True, slots=True)
class Arrival:
    change: int


@dataclass(frozen=True, slots=True)
class Finished:
    build_id: int


Event = Arrival | Finished


def arrivals(workload: Workload) -> EventQueue[Event]:
    """An event queue holding every arrival of the workload."""
    events: EventQueue[Event] = EventQueue()
    for change in workload.changes:
        events.push(change.arrival_ms, Arrival(change.index))
    return events


def start_build(
    workload: Workload,
    ledger: Ledger,
    events: EventQueue[Event],
    included: tuple[int, ...],
    now_ms: int,
    *,
    heads: int = 1,
) -> int:
    """Start a build of `included` now and schedule its end; returns the build id.

    The last `heads` changes of `included` are the ones the build verifies (a path build has one,
    a batch build several); it takes as long as the slowest of them.
    """
    record = ledger.start_build(included, now_ms)
    events.push(now_ms + workload.build_ms(included[-heads:]), Finished(record.id))
    return record.id


def finish_build(workload: Workload, ledger: Ledger, build_id: int, now_ms: int) -> bool | None:
    """Record the end of a build and return its verdict; None if it had been cancelled."""
    record = ledger.builds[build_id]
    if record.cancelled:
        return None
    passed = workload.passes(record.included, "build", build_id)
    ledger.finish_build(build_id, passed, now_ms)
    return passed
