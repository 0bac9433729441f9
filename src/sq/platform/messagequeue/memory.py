"""`QueueStore` in memory: dicts keyed like the SQL tables, one lock, the same rules."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import ParamSpec, TypeVar

from sq.platform.errs import Failure
from sq.platform.messagequeue import window
from sq.platform.messagequeue.inspection import MemoryInspection
from sq.platform.messagequeue.inspection import RowFlags as _State
from sq.platform.messagequeue.model import (
    LeaseLostError,
    OutgoingMessage,
    StoredMessage,
)
from sq.platform.messagequeue.store import (
    CycleResult,
    Fence,
    Fetched,
    FetchSpec,
    Lease,
    Outcome,
    OutcomeKind,
    PartitionInfo,
    dead_letter_of,
)

_Partition = tuple[str, str]
_GroupPartition = tuple[str, str, str]


P = ParamSpec("P")
T = TypeVar("T")


class MemoryQueueStore(MemoryInspection):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_seq: dict[_Partition, int] = {}
        self._settled: dict[_Partition, int] = {}
        self._rows: dict[_Partition, dict[int, StoredMessage]] = {}
        self._ids: dict[_Partition, dict[str, int]] = {}
        self._states: dict[_GroupPartition, dict[int, _State]] = {}
        self._offsets: dict[_GroupPartition, int] = {}
        self._leases: dict[_GroupPartition, Lease] = {}
        self._heartbeats: dict[tuple[str, str], dict[str, int]] = {}

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # --- publish ---------------------------------------------------------------------------------

    def publish(self, messages: Sequence[OutgoingMessage], now_ms: int) -> list[bool]:
        with self._lock:
            return [self._insert(m, now_ms) for m in messages]

    def _insert(self, m: OutgoingMessage, now_ms: int, **failure: object) -> bool:
        part = (m.topic, m.partition_key)
        ids = self._ids.setdefault(part, {})
        if m.message_id in ids:
            return False
        seq = self._last_seq.get(part, 0) + 1
        self._last_seq[part] = seq
        ids[m.message_id] = seq
        created = failure.pop("created_at_ms", now_ms)
        self._rows.setdefault(part, {})[seq] = StoredMessage(
            topic=m.topic,
            partition_key=m.partition_key,
            seq=seq,
            message_id=m.message_id,
            payload=m.payload,
            metadata=dict(m.metadata),
            created_at_ms=int(created),  # type: ignore[call-overload]
            published_at_ms=m.published_at_ms or now_ms,
            **failure,  # type: ignore[arg-type]
        )
        return True

    # --- discovery, leases, heartbeats -----------------------------------------------------------

    def discover(self, consumer_group: str, topic: str) -> list[str]:
        with self._lock:
            return sorted(
                key
                for (t, key), last in self._last_seq.items()
                if t == topic
                and last > self._settled.get((t, key), 0)
                and last > self._offsets.get((consumer_group, t, key), 0)
            )

    def leases(self, consumer_group: str, topic: str, *, held: bool = False) -> list[Lease]:
        with self._lock:
            return sorted(
                (
                    lease
                    for (g, t, _), lease in self._leases.items()
                    if g == consumer_group and t == topic and (lease.owner or not held)
                ),
                key=lambda lease: lease.partition_key,
            )

    def try_acquire(
        self,
        consumer_group: str,
        topic: str,
        partition_key: str,
        owner: str,
        now_ms: int,
        stale_before_ms: int,
    ) -> Lease | None:
        with self._lock:
            key = (consumer_group, topic, partition_key)
            held = self._leases.get(key)
            if held is not None and held.owner and held.renewed_at_ms >= stale_before_ms:
                return None
            lease = Lease(
                partition_key=partition_key,
                owner=owner,
                epoch=(held.epoch if held else 0) + 1,
                renewed_at_ms=now_ms,
            )
            self._leases[key] = lease
            return lease

    def _held(self, fence: Fence) -> bool:
        lease = self._leases.get((fence.consumer_group, fence.topic, fence.partition_key))
        return lease is not None and lease.owner == fence.owner and lease.epoch == fence.epoch

    def renew(self, fences: Sequence[Fence], now_ms: int) -> list[str]:
        lost = []
        with self._lock:
            for fence in fences:
                key = (fence.consumer_group, fence.topic, fence.partition_key)
                if self._held(fence):
                    self._leases[key] = replace(self._leases[key], renewed_at_ms=now_ms)
                else:
                    lost.append(fence.partition_key)
        return lost

    def release(self, fence: Fence) -> None:
        with self._lock:
            if self._held(fence):
                key = (fence.consumer_group, fence.topic, fence.partition_key)
                self._leases[key] = replace(self._leases[key], owner="")

    def heartbeat(self, consumer_group: str, topic: str, owner: str, now_ms: int) -> None:
        with self._lock:
            self._heartbeats.setdefault((consumer_group, topic), {})[owner] = now_ms

    def active_subscribers(self, consumer_group: str, topic: str, since_ms: int) -> list[str]:
        with self._lock:
            beats = self._heartbeats.get((consumer_group, topic), {})
            return sorted(name for name, at in beats.items() if at >= since_ms)

    def deregister(self, consumer_group: str, topic: str, owner: str) -> None:
        with self._lock:
            self._heartbeats.get((consumer_group, topic), {}).pop(owner, None)

    def purge_stale(self, consumer_group: str, topic: str, before_ms: int) -> int:
        with self._lock:
            beats = self._heartbeats.get((consumer_group, topic), {})
            stale = [name for name, at in beats.items() if at < before_ms]
            for name in stale:
                del beats[name]
            freed = 0
            for key, lease in self._leases.items():
                if (
                    key[:2] == (consumer_group, topic)
                    and lease.owner
                    and lease.renewed_at_ms < before_ms
                ):
                    self._leases[key] = replace(lease, owner="")
                    freed += 1
            return len(stale) + freed

    # --- the partition cycle ---------------------------------------------------------------------

    def cycle(
        self, fence: Fence, outcomes: Sequence[Outcome], fetch: FetchSpec | None, now_ms: int
    ) -> CycleResult:
        with self._lock:
            if not self._held(fence):
                raise LeaseLostError(
                    f"lease on {fence.topic}/{fence.partition_key} lost by {fence.owner}"
                )
            group_part = (fence.consumer_group, fence.topic, fence.partition_key)
            states = self._states.setdefault(group_part, {})
            dead = sum(self._apply(fence, states, o, now_ms) for o in outcomes)
            watermark = self._advance(group_part, states)
            if fetch is None:
                return CycleResult(
                    deliveries=[], watermark=watermark, next_due_ms=None, dead_lettered=dead
                )
            rows = self._rows.get((fence.topic, fence.partition_key), {})
            fetched: list[Fetched] = []
            next_due: int | None = None
            for seq in sorted(s for s in rows if s > watermark)[: fetch.batch_size]:
                found = states.get(seq)
                state = (
                    None
                    if found is None
                    else window.RowState(
                        found.acked, found.invisible_until_ms, found.retry_count, found.postponed
                    )
                )
                verdict = window.classify(state, now_ms)
                if verdict in (window.Verdict.BARRIER, window.Verdict.SKIP_INVISIBLE):
                    assert state is not None
                    next_due = min(next_due or state.invisible_until_ms, state.invisible_until_ms)
                    if verdict is window.Verdict.BARRIER:
                        break
                    continue
                if verdict is window.Verdict.SKIP_ACKED:
                    continue
                retry_count = window.next_retry_count(state)
                if retry_count >= fetch.max_attempts:
                    if fetch.dead_letter:
                        dead += self._dead_letter(
                            fence,
                            states,
                            Outcome(
                                seq=seq,
                                kind=OutcomeKind.DEAD_LETTER,
                                failure_count=retry_count,
                                failure=Failure(message="exceeded retry limit"),
                            ),
                            now_ms,
                        )
                    else:
                        states[seq] = _State(acked=True)
                    continue
                states[seq] = _State(
                    invisible_until_ms=now_ms + fetch.visibility_timeout_ms, retry_count=retry_count
                )
                fetched.append(
                    Fetched(
                        message=rows[seq],
                        attempt=retry_count + 1,
                        previous_retry_count=None if state is None else state.retry_count,
                    )
                )
            return CycleResult(
                deliveries=fetched, watermark=watermark, next_due_ms=next_due, dead_lettered=dead
            )

    def _apply(self, fence: Fence, states: dict[int, _State], o: Outcome, now_ms: int) -> int:
        state = states.get(o.seq)
        if o.kind is OutcomeKind.ACK:
            states[o.seq] = _State(acked=True)
        elif o.kind is OutcomeKind.DEAD_LETTER:
            return self._dead_letter(fence, states, o, now_ms)
        elif state is None or state.acked:
            return 0
        elif o.kind is OutcomeKind.RETRY:
            state.invisible_until_ms, state.postponed = o.until_ms, False
        elif o.kind is OutcomeKind.POSTPONE:
            state.invisible_until_ms, state.postponed, state.retry_count = o.until_ms, True, 0
        elif o.kind is OutcomeKind.HAND_BACK:
            if o.previous_retry_count is None:
                del states[o.seq]
            else:
                state.invisible_until_ms, state.retry_count = 0, o.previous_retry_count
        return 0

    def _dead_letter(self, fence: Fence, states: dict[int, _State], o: Outcome, now_ms: int) -> int:
        source = self._rows.get((fence.topic, fence.partition_key), {}).get(o.seq)
        stored = 0
        if source is not None:
            failure = o.failure or Failure(message="")
            letter = dead_letter_of(fence, source)
            stored = int(
                self._insert(
                    letter,
                    now_ms,
                    created_at_ms=source.created_at_ms,
                    failed_at_ms=now_ms,
                    failure_count=o.failure_count,
                    last_error=failure.message,
                    original_topic=fence.topic,
                    failure_detail=failure.encode(),
                    failed_group=fence.consumer_group,
                )
            )
        states[o.seq] = _State(acked=True)
        return stored

    def _advance(self, group_part: _GroupPartition, states: dict[int, _State]) -> int:
        current = self._offsets.setdefault(group_part, 0)
        part = group_part[1:]
        last_seq = self._last_seq.get(part, 0)
        rows = self._rows.get(part, {})
        walked = [
            (seq, seq in states and states[seq].acked)
            for seq in sorted(s for s in rows if current < s <= last_seq)
        ]
        advanced = window.advance_watermark(current, last_seq, walked, scan_complete=True)
        if advanced > current:
            self._offsets[group_part] = advanced
            for seq in [s for s in states if s <= advanced]:
                del states[seq]
        return advanced

    def extend(self, fence: Fence, seq: int, until_ms: int) -> bool:
        with self._lock:
            if not self._held(fence):
                raise LeaseLostError(
                    f"lease on {fence.topic}/{fence.partition_key} lost by {fence.owner}"
                )
            state = self._states.get(
                (fence.consumer_group, fence.topic, fence.partition_key), {}
            ).get(seq)
            if state is None or state.acked:
                return False
            state.invisible_until_ms = until_ms
            return True

    # --- collection and inspection ---------------------------------------------------------------

    def gc_topic(self, topic: str, created_before_ms: int) -> int:
        with self._lock:
            keys = [k for t, k in self._rows if t == topic]
        gone = sum(self._gc(topic, key, created_before_ms) for key in keys)
        with self._lock:
            for (t, key), last in self._last_seq.items():
                if t == topic and not self._rows.get((t, key)):
                    self._settled[(t, key)] = last  # see sql/store.py: nothing stored
        return gone

    def _gc(self, topic: str, partition_key: str, created_before_ms: int) -> int:
        with self._lock:
            marks = [
                w for (_, t, k), w in self._offsets.items() if (t, k) == (topic, partition_key)
            ]
            low = min(marks, default=0)
            rows = self._rows.get((topic, partition_key), {})
            doomed = [
                s for s, m in rows.items() if s <= low and m.created_at_ms < created_before_ms
            ]
            ids = self._ids.get((topic, partition_key), {})
            for seq in doomed:
                ids.pop(rows.pop(seq).message_id, None)
            return len(doomed)

    def partitions(self, topic: str) -> list[PartitionInfo]:
        with self._lock:
            return [
                PartitionInfo(
                    topic=t,
                    partition_key=k,
                    last_seq=last,
                    messages=len(self._rows.get((t, k), {})),
                )
                for (t, k), last in sorted(self._last_seq.items())
                if t == topic
            ]

    def watermark(self, consumer_group: str, topic: str, partition_key: str) -> int:
        with self._lock:
            return self._offsets.get((consumer_group, topic, partition_key), 0)
