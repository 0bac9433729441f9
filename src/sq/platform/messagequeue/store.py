"""The storage contract every queue backend implements (in-memory, SQLite, PostgreSQL).

Each method is one synchronous transaction. The asyncio engine (`subscriber.py`) calls them through
the store's `call`, which runs them on a thread (the SQLite store runs its short hot-path calls on
the loop when that cannot wait; `sql/transactions.py`).

Fencing: every write to a group's state for a partition (`cycle`, `extend`, `release`) names the
lease it holds as a `Fence`. A write whose fence no longer matches the lease row — the lease was
taken over, or released — raises `LeaseLostError` and changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ParamSpec, Protocol, TypeVar

from sq.platform.errs import Failure
from sq.platform.messagequeue.model import OutgoingMessage, StoredMessage, dlq_topic

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Fence:
    consumer_group: str
    topic: str
    partition_key: str
    owner: str
    epoch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    partition_key: str
    owner: str
    epoch: int
    renewed_at_ms: int


class OutcomeKind(enum.StrEnum):
    ACK = "ack"
    RETRY = "retry"
    POSTPONE = "postpone"
    DEAD_LETTER = "dead_letter"
    HAND_BACK = "hand_back"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How one delivery ended, to be written in the next `cycle`.

    RETRY and POSTPONE make the row deliverable again at `until_ms`; POSTPONE also resets the
    attempt count and makes the row a barrier for its partition. DEAD_LETTER copies the message to
    `<topic>_dlq` for this group and acks it here. HAND_BACK undoes a delivery that never started.
    """

    seq: int
    kind: OutcomeKind
    until_ms: int = 0
    failure: Failure | None = None
    failure_count: int = 0
    previous_retry_count: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSpec:
    batch_size: int
    visibility_timeout_ms: int
    max_attempts: int
    dead_letter: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetched:
    message: StoredMessage
    attempt: int
    previous_retry_count: int | None
    """The row's retry count before this fetch (None: first delivery); a hand-back restores it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleResult:
    deliveries: list[Fetched]
    watermark: int
    next_due_ms: int | None
    """The earliest time a skipped row of the window becomes deliverable, if any."""
    dead_lettered: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionInfo:
    topic: str
    partition_key: str
    last_seq: int
    messages: int


def dead_letter_of(fence: Fence, source: StoredMessage) -> OutgoingMessage:
    """The copy of `source` that goes to `<topic>_dlq` for the fence's consumer group.

    Its id is `<group>:<id>`, so two groups failing one message keep two letters, and a letter
    written twice (a redelivered dead-letter) is stored once. Every backend uses this.
    """
    return OutgoingMessage(
        topic=dlq_topic(fence.topic),
        partition_key=fence.partition_key,
        message_id=f"{fence.consumer_group}:{source.message_id}",
        payload=source.payload,
        metadata=source.metadata,
        published_at_ms=source.published_at_ms,
    )


class QueueStore(Protocol):
    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one of this store's methods for the event loop (normally on a worker thread)."""

    def publish(self, messages: Sequence[OutgoingMessage], now_ms: int) -> list[bool]:
        """Store messages in one transaction; True for each one stored, False for a duplicate.

        Sequence numbers are allocated per partition inside the transaction, so a partition's rows
        become visible in sequence order whatever the commit order of concurrent publishers.
        """

    def discover(self, consumer_group: str, topic: str) -> list[str]:
        """Partition keys of `topic` with messages past the group's watermark, sorted."""

    def leases(self, consumer_group: str, topic: str, *, held: bool = False) -> list[Lease]:
        """Every lease row of the group and topic (released ones have an empty owner); with
        `held`, only those with an owner."""

    def try_acquire(
        self,
        consumer_group: str,
        topic: str,
        partition_key: str,
        owner: str,
        now_ms: int,
        stale_before_ms: int,
    ) -> Lease | None:
        """Take the lease if it is free, released, or not renewed since `stale_before_ms`.

        A takeover bumps the epoch. Returns the new lease, or None when someone else holds it.
        """

    def renew(self, fences: Sequence[Fence], now_ms: int) -> list[str]:
        """Renew each lease still held under its fence; returns the partition keys lost."""

    def release(self, fence: Fence) -> None:
        """Give the lease up (idempotent; a lease already lost is left alone)."""

    def heartbeat(self, consumer_group: str, topic: str, owner: str, now_ms: int) -> None: ...

    def active_subscribers(self, consumer_group: str, topic: str, since_ms: int) -> list[str]:
        """Subscriber names with a heartbeat at or after `since_ms`, sorted."""

    def deregister(self, consumer_group: str, topic: str, owner: str) -> None: ...

    def purge_stale(self, consumer_group: str, topic: str, before_ms: int) -> int:
        """Delete heartbeats older than `before_ms` and free leases not renewed since then."""

    def cycle(
        self, fence: Fence, outcomes: Sequence[Outcome], fetch: FetchSpec | None, now_ms: int
    ) -> CycleResult:
        """Write `outcomes`, advance the watermark, then (with `fetch`) claim the next window.

        The window is the first `batch_size` rows past the watermark. In order: acked rows are
        skipped; an invisible postponed row stops the scan (a barrier); other invisible rows are
        skipped; the rest are marked delivered (invisible for the visibility timeout, attempt + 1,
        unless the previous delivery was a postpone) and returned. A row whose attempts are spent
        is dead-lettered instead (a crash loop never reached its nack).
        """

    def extend(self, fence: Fence, seq: int, until_ms: int) -> bool:
        """Keep an unacked delivery invisible until `until_ms`; False when it is already acked."""

    def gc_topic(self, topic: str, created_before_ms: int) -> int:
        """Delete rows every group with a watermark has passed, created before the cutoff, in
        every partition of the topic (those no worker reads any more too); returns how many.

        Then settles each partition with nothing stored that every group has passed up to its
        last seq: discovery skips it until a publish gives it work again.
        """

    def partitions(self, topic: str) -> list[PartitionInfo]: ...

    def watermark(self, consumer_group: str, topic: str, partition_key: str) -> int:
        """The group's contiguous-ack watermark for the partition (0 when it has none)."""
