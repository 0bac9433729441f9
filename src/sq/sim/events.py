"""A virtual clock: events in time order, handed out one instant at a time."""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

E = TypeVar("E")


class EventQueue(Generic[E]):
    """Events ordered by time, then by the order they were pushed (so runs are deterministic)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, E]] = []
        self._seq = itertools.count()

    def push(self, at_ms: int, event: E) -> None:
        heapq.heappush(self._heap, (at_ms, next(self._seq), event))

    def __bool__(self) -> bool:
        return bool(self._heap)

    def next_time(self) -> int:
        return self._heap[0][0]

    def pop_instant(self) -> tuple[int, list[E]]:
        """Every event of the earliest instant, in push order."""
        now = self._heap[0][0]
        due: list[E] = []
        while self._heap and self._heap[0][0] == now:
            due.append(heapq.heappop(self._heap)[2])
        return now, due
