"""The partition cycle on one open transaction: fence, outcomes, watermark, next window.

A delivery's state (acked out of order, in flight until, retry count, postponed) is a `mq_delivery`
row, forgotten once the watermark passes it. Nearly every delivery is a first delivery that is
acked soon after, so first deliveries are not written one row each: the offset row claims them as
a range. Every row above the watermark up to `claimed_seq` that has no state row of its own is in
flight until `claimed_until_ms`, on its first attempt. Before a new claim moves that deadline, the
rows the old one still holds in flight get rows of their own; a retry, a postpone, an extension or
an ack out of order writes the row's state as before.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sq.platform.errs import Failure
from sq.platform.messagequeue import window
from sq.platform.messagequeue.model import LeaseLostError
from sq.platform.messagequeue.sql import statements
from sq.platform.messagequeue.sql.dbapi import Tx
from sq.platform.messagequeue.sql.publishing import insert_message
from sq.platform.messagequeue.sql.rows import stored_message
from sq.platform.messagequeue.store import (
    CycleResult,
    Fence,
    Fetched,
    FetchSpec,
    Outcome,
    OutcomeKind,
    dead_letter_of,
)
from sq.platform.messagequeue.values import positional

_fetched = positional(Fetched)


def cycle(
    tx: Tx, fence: Fence, outcomes: Sequence[Outcome], fetch: FetchSpec | None, now_ms: int
) -> CycleResult:
    """Write `outcomes`, advance the watermark, then (with `fetch`) claim the next window."""
    keys = partition_keys(fence)
    watermark, last_seq, claimed = _open(tx, fence, keys, now_ms)
    claimed = _unclaim(tx, keys, watermark, claimed, outcomes)
    settled, dead = _apply_all(tx, fence, keys, watermark, outcomes, now_ms)
    watermark = _advance(tx, keys, watermark, settled, last_seq, now_ms)
    if fetch is None:
        return CycleResult(deliveries=[], watermark=watermark, next_due_ms=None, dead_lettered=dead)
    fetched, next_due, exceeded = _claim(tx, fence, keys, fetch, watermark, claimed, now_ms)
    return CycleResult(
        deliveries=fetched,
        watermark=watermark,
        next_due_ms=next_due,
        dead_lettered=dead + exceeded,
    )


def extend(tx: Tx, fence: Fence, seq: int, until_ms: int) -> bool:
    keys = partition_keys(fence)
    _, acked_seq, _, claimed_seq, _ = _fenced(tx, fence, keys)
    key = keys | {"seq": seq, "until": until_ms}
    if tx.run(statements.EXTEND, key) == 1:
        return True
    # A first delivery held by the claimed range gets a row of its own with the new deadline.
    claimed = (acked_seq or 0) < seq <= (claimed_seq or 0)
    return claimed and tx.run(statements.EXTEND_CLAIMED, key) == 1


def partition_keys(fence: Fence) -> dict[str, Any]:
    return {
        "group": fence.consumer_group,
        "topic": fence.topic,
        "partition_key": fence.partition_key,
    }


def _fenced(tx: Tx, fence: Fence, keys: dict[str, Any]) -> tuple[Any, ...]:
    """The lease (epoch), watermark and last seq, if `fence` still holds; else LeaseLostError.

    On PostgreSQL the lease row is locked FOR SHARE, so a takeover waits for this transaction.
    """
    query = statements.OPEN_POSTGRES if tx.postgres else statements.OPEN_SQLITE
    found = tx.first(query, keys | {"owner": fence.owner, "epoch": fence.epoch})
    if found is None:
        raise LeaseLostError(
            f"lease on {fence.topic}/{fence.partition_key} for {fence.consumer_group} "
            f"is no longer held by {fence.owner} at epoch {fence.epoch}"
        )
    return found


def _open(
    tx: Tx, fence: Fence, keys: dict[str, Any], now_ms: int
) -> tuple[int, int, tuple[int, int]]:
    """Check the fence; read the watermark, the partition's last sequence number and the claim.

    `last_seq` is read before any row: every seq up to it belongs to a committed publish, so
    later scans see all of those rows (or their absence is final). The claim is
    (claimed_seq, claimed_until_ms).
    """
    _, acked_seq, last_seq, claimed_seq, claimed_until = _fenced(tx, fence, keys)
    if acked_seq is None:
        tx.run(statements.START_OFFSET, keys | {"now": now_ms})
        return 0, int(last_seq or 0), (0, 0)
    return int(acked_seq), int(last_seq or 0), (int(claimed_seq), int(claimed_until))


def _apply_all(
    tx: Tx,
    fence: Fence,
    keys: dict[str, Any],
    watermark: int,
    outcomes: Sequence[Outcome],
    now_ms: int,
) -> tuple[int, int]:
    """Write the outcomes; returns (the end of the acked run just past the watermark, letters).

    Acks of the rows right after the watermark, in an unbroken run of sequence numbers, are not
    written: the watermark moves past them in this same transaction, which forgets their state.
    """
    acked = sorted(o.seq for o in outcomes if o.kind is OutcomeKind.ACK)
    settled = watermark
    for seq in acked:
        if seq != settled + 1:
            break
        settled = seq
    rest = [seq for seq in acked if seq > settled]
    if rest:
        tx.many(statements.ACK, [keys | {"seq": seq} for seq in rest])
    dead = sum(
        _apply(tx, fence, keys, o, now_ms)
        for o in outcomes
        if o.kind is not OutcomeKind.ACK and o.seq > watermark
    )
    return settled, dead


def _unclaim(
    tx: Tx,
    keys: dict[str, Any],
    watermark: int,
    claimed: tuple[int, int],
    outcomes: Sequence[Outcome],
) -> tuple[int, int]:
    """Shrink the claim below the first of the first deliveries handed back; returns the claim.

    A worker hands back the end of its window, so usually nothing else is above that point. Any
    row that is (a delivery still in flight) gets a row of its own first, with the claim's state;
    the handed-back ones lose theirs again in `_apply` (FORGET_DELIVERY).
    """
    claimed_seq, claimed_until = claimed
    handed = [
        o.seq
        for o in outcomes
        if o.kind is OutcomeKind.HAND_BACK
        and o.previous_retry_count is None
        and watermark < o.seq <= claimed_seq
    ]
    if not handed:
        return claimed
    low = min(handed)
    span = keys | {"low": low - 1, "high": claimed_seq, "until": claimed_until}
    tx.run(statements.HOLD_CLAIMED, span)
    tx.run(statements.UNCLAIM, keys | {"seq": low})
    return low - 1, claimed_until


def _apply(tx: Tx, fence: Fence, keys: dict[str, Any], outcome: Outcome, now_ms: int) -> int:
    key = keys | {"seq": outcome.seq}
    if outcome.kind is OutcomeKind.RETRY:
        tx.run(statements.RETRY, key | {"until": outcome.until_ms})
    elif outcome.kind is OutcomeKind.POSTPONE:
        tx.run(statements.POSTPONE, key | {"until": outcome.until_ms})
    elif outcome.kind is OutcomeKind.HAND_BACK:
        if outcome.previous_retry_count is None:
            tx.run(statements.FORGET_DELIVERY, key)
        else:
            tx.run(statements.RESTORE_DELIVERY, key | {"retry_count": outcome.previous_retry_count})
    elif outcome.kind is OutcomeKind.DEAD_LETTER:
        return _dead_letter(tx, fence, keys, outcome, now_ms)
    return 0


def _dead_letter(tx: Tx, fence: Fence, keys: dict[str, Any], outcome: Outcome, now_ms: int) -> int:
    """Copy the message to `<topic>_dlq` for this group only (`dead_letter_of`), then ack it."""
    found = tx.first(statements.SOURCE, keys | {"seq": outcome.seq})
    stored = 0
    if found is not None:
        source = stored_message(found)
        failure = outcome.failure
        letter = dead_letter_of(fence, source)
        encoded = failure.encode() if failure else None
        stored = int(
            insert_message(
                tx,
                letter,
                now_ms,
                created_at_ms=source.created_at_ms,
                failed_at_ms=now_ms,
                failure_count=outcome.failure_count,
                last_error=failure.message if failure else "",
                original_topic=fence.topic,
                failure_detail=json.dumps(encoded) if encoded else None,
                failed_group=fence.consumer_group,
            )
        )
    tx.run(statements.ACK, keys | {"seq": outcome.seq})
    return stored


def _advance(
    tx: Tx, keys: dict[str, Any], current: int, settled: int, last_seq: int, now_ms: int
) -> int:
    """Move the watermark past every acked row; `settled` rows were acked in this transaction."""
    first_unacked = tx.first(statements.FIRST_UNACKED, keys | {"low": settled, "high": last_seq})
    # Every seq below the first unacked row is acked or settled-absent (see `_open`).
    advanced = last_seq if first_unacked is None else int(first_unacked[0]) - 1
    if advanced > current:
        moved = keys | {"watermark": advanced, "now": now_ms}
        tx.run(statements.MOVE_WATERMARK, moved)
        tx.run(statements.FORGET_STATES, moved)
    return max(advanced, current)


_STATE = len(statements.MESSAGE_COLUMNS)


def _claim(
    tx: Tx,
    fence: Fence,
    keys: dict[str, Any],
    fetch: FetchSpec,
    watermark: int,
    claimed: tuple[int, int],
    now_ms: int,
) -> tuple[list[Fetched], int | None, int]:
    claimed_seq, claimed_until = claimed
    in_range = window.RowState(False, claimed_until, 0, False)
    rows = tx.all(statements.WINDOW, keys | {"low": watermark, "limit": fetch.batch_size})
    group, topic, partition_key = fence.consumer_group, fence.topic, fence.partition_key
    redelivered: list[tuple[Any, ...]] = []  # CLAIM rows, in its parameters' order
    held: list[tuple[Any, ...]] = []  # in flight under the current claim
    first_seq = 0  # the highest first delivery in this window
    fetched: list[Fetched] = []
    next_due: int | None = None
    exceeded = 0
    until = now_ms + fetch.visibility_timeout_ms
    for row in rows:
        seq = row[2]
        acked, invisible_until_ms, retry_count, postponed, state_seq = row[_STATE:]
        if state_seq is not None:
            state: window.RowState | None = window.RowState(
                bool(acked), invisible_until_ms, retry_count, bool(postponed)
            )
        elif seq <= claimed_seq:
            state = in_range
        else:
            state = None
        verdict = window.classify(state, now_ms)
        if verdict is window.Verdict.BARRIER or verdict is window.Verdict.SKIP_INVISIBLE:
            assert state is not None
            next_due = min(next_due or state.invisible_until_ms, state.invisible_until_ms)
            if verdict is window.Verdict.BARRIER:
                break
            if state is in_range:
                held.append((group, topic, partition_key, seq, claimed_until, 0))
            continue
        if verdict is window.Verdict.SKIP_ACKED:
            continue
        retry = window.next_retry_count(state)
        if retry >= fetch.max_attempts:
            exceeded += _exhausted(tx, fence, keys, fetch, seq, retry, now_ms)
            continue
        if state is None:
            first_seq = seq
        else:
            redelivered.append((group, topic, partition_key, seq, until, retry))
        previous = None if state is None else state.retry_count
        fetched.append(_fetched(stored_message(row), retry + 1, previous))
    if first_seq:
        # The new claim moves the deadline: what the old one holds keeps its own.
        redelivered += held
        tx.run(statements.CLAIM_RANGE, keys | {"claimed_seq": first_seq, "until": until})
    if redelivered:
        tx.many(statements.CLAIM, redelivered)
    return fetched, next_due, exceeded


def _exhausted(
    tx: Tx,
    fence: Fence,
    keys: dict[str, Any],
    fetch: FetchSpec,
    seq: int,
    retry_count: int,
    now_ms: int,
) -> int:
    """A delivery that never reached a nack (a crash loop) and has no attempts left."""
    if not fetch.dead_letter:
        tx.run(statements.ACK, keys | {"seq": seq})
        return 0
    outcome = Outcome(
        seq=seq,
        kind=OutcomeKind.DEAD_LETTER,
        failure_count=retry_count,
        failure=Failure(message="exceeded retry limit"),
    )
    return _dead_letter(tx, fence, keys, outcome, now_ms)
