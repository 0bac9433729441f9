"""In-process wake-ups: a publish wakes the worker of its partition, or discovery for a new one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

Listener = Callable[[str], None]
"""Called with the partition key of a publish to the topic listened on."""


class Waker:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._everything: list[Callable[[], None]] = []

    def listen(self, topic: str, listener: Listener) -> Callable[[], None]:
        self._listeners[topic].append(listener)
        return lambda: self._listeners[topic].remove(listener)

    def listen_all(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._everything.append(callback)
        return lambda: self._everything.remove(callback)

    def notify(self, topic: str, partition_key: str) -> None:
        for listener in list(self._listeners.get(topic, ())):
            listener(partition_key)

    def notify_all(self) -> None:
        """Something changed somewhere (another process committed): everyone looks again."""
        for callback in list(self._everything):
            callback()
