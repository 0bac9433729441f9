"""Pure rules of the per-partition window, shared by every backend (platform-spec §1.8, §1.10)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RowState:
    acked: bool
    invisible_until_ms: int
    retry_count: int
    postponed: bool


class Verdict(enum.Enum):
    SKIP_ACKED = "skip-acked"
    SKIP_INVISIBLE = "skip-invisible"
    BARRIER = "barrier"
    DELIVER = "deliver"


def classify(state: RowState | None, now_ms: int) -> Verdict:
    if state is None:
        return Verdict.DELIVER
    if state.acked:
        return Verdict.SKIP_ACKED
    if state.invisible_until_ms > now_ms:
        return Verdict.BARRIER if state.postponed else Verdict.SKIP_INVISIBLE
    return Verdict.DELIVER


def next_retry_count(state: RowState | None) -> int:
    """The retry count a delivery records: +1 per redelivery, except the first after a postpone."""
    if state is None:
        return 0
    return state.retry_count if state.postponed else state.retry_count + 1


def advance_watermark(
    watermark: int, last_seq: int, rows: Iterable[tuple[int, bool]], scan_complete: bool
) -> int:
    """The highest seq such that every stored row up to it is acked by the group.

    `rows` are (seq, acked) of the stored rows in (watermark, last_seq], ascending. Sequence numbers
    with no row (a publish deduplicated after allocating, or rows already collected) never block:
    every seq up to `last_seq` was allocated by a committed transaction. When the scan saw every row
    up to `last_seq` and all were acked, the watermark jumps to `last_seq`.
    """
    for seq, acked in rows:
        if not acked:
            return watermark
        watermark = seq
    if scan_complete:
        return max(watermark, last_seq)
    return watermark
