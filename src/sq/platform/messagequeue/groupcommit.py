"""Group commit: publishes that arrive while one is being written share the next transaction.

A service publishes from many handlers at once. Writing each call in its own transaction costs a
commit per message, and on SQLite every commit rewrites the same few pages of the message table, its
id index and the partition's sequence row. Here the first call starts a writer task; every call
made before that task runs, or while it writes, joins the next transaction. A lone caller still
gets a transaction of its own, one loop iteration later.

Each caller's result is what it would have got alone: its messages are stored in call order (so a
partition's sequence numbers follow the order of the calls), a duplicate id reports False, and the
call returns only after its transaction committed. When a shared transaction fails, every call in
it is written again on its own, so one bad call fails only itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from sq.platform.messagequeue.batching import Batcher, settle
from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.store import QueueStore

MAX_GROUP_MESSAGES = 1000

_Call = tuple[Sequence[OutgoingMessage], "asyncio.Future[list[bool]]"]


class GroupCommit(Batcher[Sequence[OutgoingMessage], list[bool]]):
    def __init__(
        self,
        store: QueueStore,
        now_ms: Callable[[], int],
        stored: Callable[[Sequence[OutgoingMessage], Sequence[bool]], None],
        *,
        max_messages: int = MAX_GROUP_MESSAGES,
    ) -> None:
        super().__init__("mq-group-commit")
        self.store = store
        self._now_ms = now_ms
        self._stored = stored
        """Called after each commit with what it stored (to wake local readers)."""
        self._max_messages = max_messages
        self.transactions = 0
        """How many transactions were written (a test and benchmark figure)."""

    def publish(self, messages: Sequence[OutgoingMessage]) -> asyncio.Future[list[bool]]:
        """Await the result: one bool per message, once the group's transaction committed."""
        return self._submit(messages)

    def _take(self) -> list[_Call]:
        taken = 0
        for index, (messages, _) in enumerate(self._pending):
            if index and taken + len(messages) > self._max_messages:
                group, self._pending = self._pending[:index], self._pending[index:]
                return group
            taken += len(messages)
        return super()._take()

    async def _write(self, group: list[_Call]) -> None:
        messages = [m for call, _ in group for m in call]
        try:
            self.transactions += 1
            stored = await self.store.call(self.store.publish, messages, self._now_ms())
        except Exception as exc:  # noqa: BLE001 - handed to the caller(s), not swallowed
            if len(group) == 1:
                settle(group[0][1], exc)
                return
            for call in group:
                await self._write([call])
            return
        self._stored(messages, stored)
        offset = 0
        for batch, future in group:
            settle(future, stored[offset : offset + len(batch)])
            offset += len(batch)
