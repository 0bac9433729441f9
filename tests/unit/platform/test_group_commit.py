"""Group commit: shared transactions, per-call results, and a bad call failing alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pytest

from sq.platform.messagequeue.groupcommit import GroupCommit
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.messagequeue.model import OutgoingMessage

pytestmark = pytest.mark.anyio
T = TypeVar("T")


def msg(message_id: str) -> OutgoingMessage:
    return OutgoingMessage(topic="t", partition_key="p", message_id=message_id, payload="{}")


class Store(MemoryQueueStore):
    """Refuses any transaction holding a message named "bad"; can be held shut."""

    def __init__(self) -> None:
        super().__init__()
        self.transactions: list[list[str]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.entered = asyncio.Event()
        """A call reached the store (and waits there while it is held shut)."""

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.entered.set()
        await self.open.wait()
        return fn(*args, **kwargs)

    def publish(self, messages: Sequence[OutgoingMessage], now_ms: int) -> list[bool]:
        ids = [m.message_id for m in messages]
        self.transactions.append(ids)
        if "bad" in ids:
            raise ValueError("refused")
        return super().publish(messages, now_ms)


async def test_calls_made_together_share_one_transaction_and_keep_their_results() -> None:
    store = Store()
    woken: list[str] = []
    group = GroupCommit(store, lambda: 1, lambda ms, ok: woken.extend(m.message_id for m in ms))
    results = await asyncio.gather(
        group.publish([msg("a")]), group.publish([msg("b"), msg("a")]), group.publish([msg("c")])
    )
    assert results == [[True], [True, False], [True]]
    assert store.transactions == [["a", "b", "a", "c"]]
    assert woken == ["a", "b", "a", "c"]


async def test_a_failed_group_is_written_again_call_by_call() -> None:
    store = Store()
    group = GroupCommit(store, lambda: 1, lambda ms, ok: None)
    good, bad, other = await asyncio.gather(
        group.publish([msg("a")]),
        group.publish([msg("bad")]),
        group.publish([msg("c")]),
        return_exceptions=True,
    )
    assert good == [True] and other == [True]
    assert isinstance(bad, ValueError)
    assert store.transactions == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


async def test_the_largest_group_is_bounded() -> None:
    store = Store()
    group = GroupCommit(store, lambda: 1, lambda ms, ok: None, max_messages=2)
    await asyncio.gather(*(group.publish([msg(f"m{i}")]) for i in range(5)))
    assert [len(t) for t in store.transactions] == [2, 2, 1]


async def test_a_stopped_writer_fails_its_callers_instead_of_leaving_them_waiting() -> None:
    store = Store()
    store.open.clear()
    group = GroupCommit(store, lambda: 1, lambda ms, ok: None)
    waiting = [group.publish([msg(f"m{i}")]) for i in range(2)]
    await store.entered.wait()  # the writer holds both and waits for the store
    waiting.append(group.publish([msg("queued")]))  # for the next group
    assert group._writer is not None
    group._writer.cancel()
    for task in waiting:
        with pytest.raises(RuntimeError, match="abandoned"):
            await asyncio.wait_for(task, 1.0)
