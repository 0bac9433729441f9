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

from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.store import QueueStore

MAX_GROUP_MESSAGES = 1000

_Call = tuple[Sequence[OutgoingMessage], "asyncio.Future[list[bool]]"]


class GroupCommit:
    def __init__(
        self,
        store: QueueStore,
        now_ms: Callable[[], int],
        stored: Callable[[Sequence[OutgoingMessage], Sequence[bool]], None],
        *,
        max_messages: int = MAX_GROUP_MESSAGES,
    ) -> None:
        self.store = store
        self._now_ms = now_ms
        self._stored = stored
        """Called after each commit with what it stored (to wake local readers)."""
        self._max_messages = max_messages
        self._pending: list[_Call] = []
        self._writer: asyncio.Task[None] | None = None
        self.transactions = 0
        """How many transactions were written (a test and benchmark figure)."""

    async def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bool]] = loop.create_future()
        self._pending.append((messages, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_pending(), name="mq-group-commit")
        return await future

    async def _write_pending(self) -> None:
        group: list[_Call] = []
        try:
            while self._pending:
                group = self._take()
                await self._write(group)
        finally:
            # Only when this task is cancelled (the loop is closing): nobody may wait forever.
            # Whether an abandoned group committed is unknown, as after any interrupted call.
            for _, future in [*group, *self._pending]:
                if not future.done():
                    future.set_exception(RuntimeError("publish abandoned: the queue stopped"))
            self._pending = []

    def _take(self) -> list[_Call]:
        taken = 0
        for index, (messages, _) in enumerate(self._pending):
            if index and taken + len(messages) > self._max_messages:
                group, self._pending = self._pending[:index], self._pending[index:]
                return group
            taken += len(messages)
        group, self._pending = self._pending, []
        return group

    async def _write(self, group: list[_Call]) -> None:
        messages = [m for call, _ in group for m in call]
        try:
            self.transactions += 1
            stored = await self.store.call(self.store.publish, messages, self._now_ms())
        except Exception as exc:  # noqa: BLE001 - handed to the caller(s), not swallowed
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            for call in group:
                await self._write([call])
            return
        self._stored(messages, stored)
        offset = 0
        for batch, future in group:
            _settle(future, stored[offset : offset + len(batch)])
            offset += len(batch)


def _settle(future: asyncio.Future[list[bool]], outcome: list[bool] | Exception) -> None:
    if future.done():  # the caller was cancelled; its messages are stored all the same
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
