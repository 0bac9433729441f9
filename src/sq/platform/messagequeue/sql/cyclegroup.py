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

from sq.platform.messagequeue.batching import Batcher, settle
from sq.platform.messagequeue.store import CycleResult, Fence, FetchSpec, Outcome

CycleArgs = tuple[Fence, Sequence[Outcome], FetchSpec | None, int]
RunMany = Callable[[list[CycleArgs]], Awaitable[list[CycleResult | Exception]]]


class CycleGroup(Batcher[CycleArgs, CycleResult]):
    def __init__(self, run_many: RunMany) -> None:
        super().__init__("mq-cycle-group")
        self._run_many = run_many

    def cycle(self, args: CycleArgs) -> asyncio.Future[CycleResult]:
        return self._submit(args)

    async def _write(self, group: list[tuple[CycleArgs, asyncio.Future[CycleResult]]]) -> None:
        try:
            results = await self._run_many([args for args, _ in group])
        except Exception as exc:  # noqa: BLE001 - the shared transaction failed: every caller sees why
            results = [exc] * len(group)
        for (_, future), result in zip(group, results, strict=True):
            settle(future, result)
