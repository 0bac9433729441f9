"""SQLite: partition cycles requested in the same turn of the event loop share one transaction.

Each worker writes its outcomes and claims its next window in a cycle of its own. On SQLite, where
cycles run on the loop (`transactions.py`), the commit is most of a short cycle's cost, and every
worker that finished its window in the same turn asks for one at about the same moment. So those
cycles run in one transaction, each inside a savepoint: a cycle that fails (its lease was taken
over, say) rolls back to its savepoint and fails alone, the others commit. Every caller gets its
result only after the shared commit, exactly as if its cycle had committed on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from sq.platform.messagequeue.store import CycleResult, Fence, FetchSpec, Outcome

CycleArgs = tuple[Fence, Sequence[Outcome], FetchSpec | None, int]
RunMany = Callable[[list[CycleArgs]], Awaitable[list[CycleResult | Exception]]]


class CycleGroup:
    def __init__(self, run_many: RunMany) -> None:
        self._run_many = run_many
        self._pending: list[tuple[CycleArgs, asyncio.Future[CycleResult]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def cycle(self, args: CycleArgs) -> CycleResult:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a store used from a new event loop starts afresh
            self._loop, self._pending, self._writer = loop, [], None
        future: asyncio.Future[CycleResult] = loop.create_future()
        self._pending.append((args, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_pending(), name="mq-cycle-group")
        return await future

    async def _write_pending(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                results = await self._run_many([args for args, _ in group])
            except Exception as exc:  # noqa: BLE001 - the shared transaction failed: every caller sees why
                results = [exc] * len(group)
            except BaseException:
                for _, future in group:
                    if not future.done():
                        future.cancel()
                raise
            for (_, future), result in zip(group, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
