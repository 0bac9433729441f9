"""Calls made while a write is under way, or in the same turn of the loop, are written together.

The mechanism behind group commit (`groupcommit.py`) and SQLite's cycle groups
(`sql/cyclegroup.py`): the first call starts a writer task; every call made before that task runs,
or while it writes, joins the next group. Each caller waits for its own outcome, which the writer
settles after the group's transaction. If the writer is stopped (the loop is closing), every caller
still waiting gets an error instead of waiting forever.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    def __init__(self, name: str) -> None:
        self._name = name
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue `item` for the next group; the future settles after that group's commit.

        Not a coroutine: callers await the future itself, one frame fewer for every message.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # used from a new event loop: start afresh
            self._loop, self._pending, self._writer = loop, [], None
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_pending(), name=self._name)
        return future

    async def _write_pending(self) -> None:
        group: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._pending:
                group = self._take()
                await self._write(group)
        finally:
            # Only when this task is stopped: whether an abandoned group committed is unknown,
            # as after any interrupted call.
            for _, future in [*group, *self._pending]:
                if not future.done():
                    future.set_exception(RuntimeError(f"{self._name}: abandoned, the loop stopped"))
            self._pending = []

    def _take(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        """The next group: by default everything waiting."""
        group, self._pending = self._pending, []
        return group

    async def _write(self, group: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        """Write one group and settle each of its futures (with `settle`)."""
        raise NotImplementedError


def settle(future: asyncio.Future[Result], outcome: Result | Exception) -> None:
    """Hand a caller its outcome, unless it stopped waiting (its write stands all the same)."""
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
