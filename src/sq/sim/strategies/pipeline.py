"""A dependent pipeline over the conflict graph: the engine of the optimistic and bisect peers.

An item is one change or a batch. It is built on top of the items ahead of it that it conflicts
with (its `deps`: the unresolved ones when it joined) and are not known to fail, assuming they
pass, as Zuul's dependent pipeline builds a change on the items ahead of it in its shared queue,
with one shared queue per set of conflicting changes rather than one for the whole repository.
Items that do not conflict never wait for each other or restart on each other's failures.

When a build fails, its item is marked failing and every item built on it restarts without it
(Zuul's "nearest non-failing item"); one built without it restarts with it if it stops failing.
An item lands when its build passed and everything it was built on has landed. A failing item
whose build saw nothing but the target (everything it was built on landed) is handed to the
strategy's `on_failed_alone`: rejected, or split by bisect. At most `capacity` builds run at once,
given to items in the order they joined.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sq.sim.events import EventQueue
from sq.sim.ledger import Ledger
from sq.sim.strategies import Event, finish_build, start_build
from sq.sim.workload import Workload


@dataclass(slots=True, eq=False)
class Item:
    """`passed` is the verdict of the current build (None while unbuilt or running). A `presumed`
    item is failing without a build of its own: it is the rest of a failed batch, so it must hold
    the culprit once those parts have all landed."""

    id: int
    changes: tuple[int, ...]
    deps: tuple[Item, ...]
    dependents: list[Item] = field(default_factory=list)
    base: tuple[Item, ...] = ()
    build: int | None = None
    running: bool = False
    passed: bool | None = None
    presumed: tuple[Item, ...] = ()
    resolved: bool = False
    landed: bool = False


class DependentPipeline:
    def __init__(
        self,
        workload: Workload,
        ledger: Ledger,
        events: EventQueue[Event],
        capacity: int,
        on_failed_alone: Callable[[Item, int], None],
    ) -> None:
        self.workload = workload
        self.ledger = ledger
        self.events = events
        self.capacity = capacity
        self.on_failed_alone = on_failed_alone
        self.live: dict[int, Item] = {}  # unresolved items by id, in the order they joined
        self.running = 0
        self._ids = 0
        self._unbuilt: list[int] = []
        self._by_build: dict[int, Item] = {}
        self._dirty: list[Item] = []

    def add(self, changes: Sequence[int], *, presumed: Sequence[Item] = ()) -> Item:
        near = frozenset().union(*(self.workload.neighbors(c) for c in changes))
        deps = tuple(other for other in self.live.values() if not near.isdisjoint(other.changes))
        item = Item(id=self._ids, changes=tuple(changes), deps=deps, presumed=tuple(presumed))
        self.ledger.note_dependencies(item.changes, len(deps))
        self._ids += 1
        self.live[item.id] = item
        for dep in deps:
            dep.dependents.append(item)
        if presumed:
            item.passed = False
            for part in presumed:
                part.dependents.append(item)
        else:
            heapq.heappush(self._unbuilt, item.id)
        return item

    def finished(self, build_id: int, now: int) -> None:
        item = self._by_build.pop(build_id, None)
        passed = finish_build(self.workload, self.ledger, build_id, now)
        if item is None or passed is None:
            return
        item.running, item.passed = False, passed
        self.running -= 1
        self._dirty.append(item)
        if not passed:
            self._dirty.extend(item.dependents)

    def settle(self, now: int) -> None:
        """Restart, land and hand over failures until nothing changes, then fill free workers."""
        while self._dirty:
            item = self._dirty.pop()
            if not item.resolved:
                self._check(item, now)
        while self.running < self.capacity and self._unbuilt:
            next_up = self.live.get(heapq.heappop(self._unbuilt))
            if next_up is not None and next_up.build is None and not next_up.presumed:
                self._start(next_up, now)

    def free_workers(self) -> int:
        """Workers left idle by `settle` (none while an item waits for one)."""
        return self.capacity - self.running

    def reject(self, item: Item, now: int) -> None:
        for change in item.changes:
            self.ledger.reject(change, now)
        self.resolve(item, now, landed=False)

    def resolve(self, item: Item, now: int, *, landed: bool) -> None:
        """Take `item` out of the pipeline (landed, rejected or split); its dependents re-check."""
        if item.running and item.build is not None:
            self.ledger.cancel_build(item.build, now)
            self._by_build.pop(item.build, None)
            self.running -= 1
        item.resolved, item.landed, item.running = True, landed, False
        del self.live[item.id]
        self._dirty.extend(item.dependents)

    def _check(self, item: Item, now: int) -> None:
        if item.presumed:
            self._check_presumed(item, now)
        elif item.build is not None and self._stale(item):
            self._restart(item, now)
        elif item.passed is not None and all(d.landed for d in item.base):
            if item.passed:
                assert item.build is not None
                self.ledger.land(item.changes, item.build, now)
                self.resolve(item, now, landed=True)
            else:
                self.on_failed_alone(item, now)

    def _check_presumed(self, item: Item, now: int) -> None:
        parts = item.presumed
        if all(p.landed for p in parts):
            item.presumed = ()
            self.on_failed_alone(item, now)
        elif any(p.passed is False or (p.resolved and not p.landed) for p in parts):
            item.presumed, item.passed = (), None  # another part failed: no longer presumed bad
            heapq.heappush(self._unbuilt, item.id)
            self._dirty.extend(item.dependents)

    def _expected_base(self, item: Item) -> tuple[Item, ...]:
        return tuple(d for d in item.deps if not d.resolved and d.passed is not False)

    def _stale(self, item: Item) -> bool:
        return tuple(d for d in item.base if not d.landed) != self._expected_base(item)

    def _restart(self, item: Item, now: int) -> None:
        was_failing = item.passed is False
        if item.running and item.build is not None:
            self.ledger.cancel_build(item.build, now)
            self._by_build.pop(item.build, None)
            self.running -= 1
        item.base, item.build, item.running, item.passed = (), None, False, None
        heapq.heappush(self._unbuilt, item.id)
        if was_failing:
            self._dirty.extend(item.dependents)

    def _start(self, item: Item, now: int) -> None:
        item.base = self._expected_base(item)
        included = (*(c for d in item.base for c in d.changes), *item.changes)
        item.build = start_build(
            self.workload, self.ledger, self.events, included, now, heads=len(item.changes)
        )
        item.running = True
        self.running += 1
        self._by_build[item.build] = item
