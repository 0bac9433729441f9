"""The compare-and-swap retry every Stovepipe writer shares: read a row, decide its next version,
write it at the version read; when another writer got there first, read again and decide again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sq.stovepipe.storage import VersionMismatchError

CAS_ATTEMPTS = 20
"""Lost races tolerated before giving up (the delivery is then retried as a whole)."""

Row = TypeVar("Row")
Written = TypeVar("Written")


@dataclass(frozen=True, slots=True)
class Swap(Generic[Row, Written]):
    row: Row
    """The last version read: the one the write replaced, or the one `change` left alone."""
    written: Written | None = None
    """What the write returned; None when `change` decided there was nothing to write."""

    @property
    def changed(self) -> bool:
        return self.written is not None


async def swap(
    what: str,
    load: Callable[[], Row],
    change: Callable[[Row], Awaitable[Row | None]],
    write: Callable[[Row], Written],
    *,
    row: Row | None = None,
) -> Swap[Row, Written]:
    """Write `change(row)` over `row` (read by `load` unless given), retrying on lost races.

    `load` and `write` are storage calls (run on a thread); `write` raises `VersionMismatchError`
    when the row moved on since it was read, and returns the stored row. `change` returns the next
    version, or None to write nothing. `what` names the row in the error raised after
    `CAS_ATTEMPTS` lost races.
    """
    current = await asyncio.to_thread(load) if row is None else row
    for _ in range(CAS_ATTEMPTS):
        wanted = await change(current)
        if wanted is None:
            return Swap(current)
        try:
            return Swap(current, await asyncio.to_thread(write, wanted))
        except VersionMismatchError:
            current = await asyncio.to_thread(load)
    raise VersionMismatchError(f"{what}: lost {CAS_ATTEMPTS} races with other writers")
