"""`QueueStore` on SQLite and PostgreSQL: one schema, one code path, dialect upserts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sq.platform.messagequeue import window
from sq.platform.messagequeue.model import (
    LeaseLostError,
    OutgoingMessage,
    dlq_topic,
)
from sq.platform.messagequeue.sql import statements
from sq.platform.messagequeue.sql.ownership import SqlOwnership
from sq.platform.messagequeue.sql.rows import (
    delivery_is,
    stored_message,
)
from sq.platform.messagequeue.sql.schema import (
    delivery,
    messages,
    offsets,
    partitions,
)
from sq.platform.messagequeue.store import (
    CycleResult,
    Fence,
    Fetched,
    FetchSpec,
    Outcome,
    OutcomeKind,
    PartitionInfo,
)

NOTIFY_CHANNEL = "sq_mq"


class SqlQueueStore(SqlOwnership):
    # --- publish ---------------------------------------------------------------------------------

    def publish(self, batch: Sequence[OutgoingMessage], now_ms: int) -> list[bool]:
        with self.engine.begin() as conn:
            return self.publish_in(conn, batch, now_ms)

    def publish_in(
        self, conn: Connection, batch: Sequence[OutgoingMessage], now_ms: int
    ) -> list[bool]:
        """Publish inside the caller's transaction: the messages commit or roll back with it."""
        return [self._insert_message(conn, m, now_ms) for m in batch]

    def _insert_message(
        self, conn: Connection, m: OutgoingMessage, now_ms: int, **failure: Any
    ) -> bool:
        row = {
            "topic": m.topic,
            "partition_key": m.partition_key,
            "message_id": m.message_id,
            "payload": m.payload,
            "metadata": json.dumps(dict(m.metadata), sort_keys=True) if m.metadata else None,
            "created_at_ms": failure.pop("created_at_ms", now_ms),
            "published_at_ms": m.published_at_ms or now_ms,
            "failed_at_ms": 0,
            "failure_count": 0,
            "last_error": "",
            "original_topic": "",
            "failure_detail": None,
            "failed_group": "",
            **failure,
        }
        if self._postgres:
            return conn.execute(statements.PUBLISH_POSTGRES, row).first() is not None
        seq = conn.execute(statements.NEXT_SEQ, row).scalar()
        if seq is None:
            return False
        return conn.execute(statements.INSERT_MESSAGE, {**row, "seq": seq}).first() is not None

    # --- the partition cycle ---------------------------------------------------------------------

    def cycle(
        self, fence: Fence, outcomes: Sequence[Outcome], fetch: FetchSpec | None, now_ms: int
    ) -> CycleResult:
        with self.engine.begin() as conn:
            watermark, last_seq = self._open(conn, fence, now_ms)
            dead = self._apply_all(conn, fence, outcomes, now_ms)
            watermark = self._advance(conn, fence, watermark, last_seq, now_ms)
            if fetch is None:
                return CycleResult(
                    deliveries=[], watermark=watermark, next_due_ms=None, dead_lettered=dead
                )
            fetched, next_due, exceeded = self._claim(conn, fence, fetch, watermark, now_ms)
            return CycleResult(
                deliveries=fetched,
                watermark=watermark,
                next_due_ms=next_due,
                dead_lettered=dead + exceeded,
            )

    def _open(self, conn: Connection, fence: Fence, now_ms: int) -> tuple[int, int]:
        """Check the fence and read the watermark and the partition's last sequence number.

        `last_seq` is read before any row: every seq up to it belongs to a committed publish, so
        later scans see all of those rows (or their absence is final).
        """
        _, acked_seq, last_seq = self._fenced(conn, fence)
        if acked_seq is None:
            conn.execute(
                self._insert(offsets)
                .values(**_keys_columns(fence), acked_seq=0, updated_at_ms=now_ms)
                .on_conflict_do_nothing()
            )
            acked_seq = 0
        return int(acked_seq), int(last_seq or 0)

    def _fenced(self, conn: Connection, fence: Fence) -> tuple[Any, ...]:
        """The lease (epoch), watermark and last seq, if `fence` still holds; else LeaseLostError.

        On PostgreSQL the lease row is locked FOR SHARE, so a takeover waits for this transaction.
        """
        query = statements.OPEN_POSTGRES if self._postgres else statements.OPEN_SQLITE
        params = _keys(fence) | {"owner": fence.owner, "epoch": fence.epoch}
        found = conn.execute(query, params).first()
        if found is None:
            raise LeaseLostError(
                f"lease on {fence.topic}/{fence.partition_key} for {fence.consumer_group} "
                f"is no longer held by {fence.owner} at epoch {fence.epoch}"
            )
        return tuple(found)

    def _apply_all(
        self, conn: Connection, fence: Fence, outcomes: Sequence[Outcome], now_ms: int
    ) -> int:
        acks = [o.seq for o in outcomes if o.kind is OutcomeKind.ACK]
        if acks:
            rows = [_keys_columns(fence) | {"seq": seq, "acked": True} for seq in acks]
            stmt = self._insert(delivery).values(rows)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        delivery.c.consumer_group,
                        delivery.c.topic,
                        delivery.c.partition_key,
                        delivery.c.seq,
                    ],
                    set_={"acked": stmt.excluded.acked},
                )
            )
        return sum(
            self._apply(conn, fence, o, now_ms) for o in outcomes if o.kind is not OutcomeKind.ACK
        )

    def _state_upsert(self, fence: Fence, seq: int, **values: Any) -> Any:
        stmt = self._insert(delivery).values(
            consumer_group=fence.consumer_group,
            topic=fence.topic,
            partition_key=fence.partition_key,
            seq=seq,
            **values,
        )
        return stmt.on_conflict_do_update(
            index_elements=[
                delivery.c.consumer_group,
                delivery.c.topic,
                delivery.c.partition_key,
                delivery.c.seq,
            ],
            set_=values,
        )

    def _apply(self, conn: Connection, fence: Fence, outcome: Outcome, now_ms: int) -> int:
        key = delivery_is(fence, outcome.seq)
        if outcome.kind is OutcomeKind.ACK:
            conn.execute(self._state_upsert(fence, outcome.seq, acked=True))
        elif outcome.kind is OutcomeKind.RETRY:
            conn.execute(
                sa.update(delivery)
                .where(*key, delivery.c.acked.is_(False))
                .values(invisible_until_ms=outcome.until_ms, postponed=False)
            )
        elif outcome.kind is OutcomeKind.POSTPONE:
            conn.execute(
                sa.update(delivery)
                .where(*key, delivery.c.acked.is_(False))
                .values(invisible_until_ms=outcome.until_ms, postponed=True, retry_count=0)
            )
        elif outcome.kind is OutcomeKind.HAND_BACK:
            if outcome.previous_retry_count is None:
                conn.execute(sa.delete(delivery).where(*key, delivery.c.acked.is_(False)))
            else:
                conn.execute(
                    sa.update(delivery)
                    .where(*key, delivery.c.acked.is_(False))
                    .values(invisible_until_ms=0, retry_count=outcome.previous_retry_count)
                )
        elif outcome.kind is OutcomeKind.DEAD_LETTER:
            return self._dead_letter(conn, fence, outcome, now_ms)
        return 0

    def _dead_letter(self, conn: Connection, fence: Fence, outcome: Outcome, now_ms: int) -> int:
        """Copy the message to `<topic>_dlq` for this group only, then ack it for this group.

        The DLQ row's id is `<group>:<id>`, so two groups failing one message keep two letters,
        and a letter written twice (a redelivered dead-letter) is stored once.
        """
        source = conn.execute(
            sa.select(messages).where(
                messages.c.topic == fence.topic,
                messages.c.partition_key == fence.partition_key,
                messages.c.seq == outcome.seq,
            )
        ).first()
        stored = 0
        if source is not None:
            failure = outcome.failure
            letter = OutgoingMessage(
                topic=dlq_topic(fence.topic),
                partition_key=fence.partition_key,
                message_id=f"{fence.consumer_group}:{source.message_id}",
                payload=source.payload,
                metadata=json.loads(source.metadata) if source.metadata else {},
                published_at_ms=source.published_at_ms,
            )
            encoded = failure.encode() if failure else None
            stored = int(
                self._insert_message(
                    conn,
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
            if stored and self._postgres:
                conn.execute(
                    sa.select(
                        sa.func.pg_notify(NOTIFY_CHANNEL, f"{letter.topic}\n{letter.partition_key}")
                    )
                )
        conn.execute(self._state_upsert(fence, outcome.seq, acked=True))
        return stored

    def _advance(
        self, conn: Connection, fence: Fence, current: int, last_seq: int, now_ms: int
    ) -> int:
        params = _keys(fence) | {"low": current, "high": last_seq}
        first_unacked = conn.execute(statements.FIRST_UNACKED, params).scalar()
        # Every seq below the first unacked row is acked or settled-absent (see `_open`).
        advanced = last_seq if first_unacked is None else int(first_unacked) - 1
        if advanced > current:
            moved = _keys(fence) | {"watermark": advanced, "now": now_ms}
            conn.execute(statements.MOVE_WATERMARK, moved)
            conn.execute(statements.FORGET_STATES, moved)
        return max(advanced, current)

    def _claim(
        self, conn: Connection, fence: Fence, fetch: FetchSpec, watermark: int, now_ms: int
    ) -> tuple[list[Fetched], int | None, int]:
        rows = conn.execute(
            statements.WINDOW, _keys(fence) | {"low": watermark, "limit": fetch.batch_size}
        ).all()
        claimed: list[dict[str, Any]] = []
        fetched: list[Fetched] = []
        next_due: int | None = None
        exceeded = 0
        for row in rows:
            state = None
            if row.state_seq is not None:
                state = window.RowState(
                    bool(row.acked), row.invisible_until_ms, row.retry_count, bool(row.postponed)
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
            message = stored_message(row)
            if retry_count >= fetch.max_attempts:
                exceeded += self._exhausted(conn, fence, fetch, row.seq, retry_count, now_ms)
                continue
            claimed.append(
                _keys_columns(fence)
                | {
                    "seq": row.seq,
                    "acked": False,
                    "invisible_until_ms": now_ms + fetch.visibility_timeout_ms,
                    "retry_count": retry_count,
                    "postponed": False,
                }
            )
            fetched.append(
                Fetched(
                    message=message,
                    attempt=retry_count + 1,
                    previous_retry_count=None if state is None else state.retry_count,
                )
            )
        if claimed:
            stmt = self._insert(delivery).values(claimed)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[
                        delivery.c.consumer_group,
                        delivery.c.topic,
                        delivery.c.partition_key,
                        delivery.c.seq,
                    ],
                    set_={
                        c: stmt.excluded[c]
                        for c in ("acked", "invisible_until_ms", "retry_count", "postponed")
                    },
                )
            )
        return fetched, next_due, exceeded

    def _exhausted(
        self,
        conn: Connection,
        fence: Fence,
        fetch: FetchSpec,
        seq: int,
        retry_count: int,
        now_ms: int,
    ) -> int:
        """A delivery that never reached a nack (a crash loop) and has no attempts left."""
        from sq.platform.errs import Failure

        if not fetch.dead_letter:
            conn.execute(self._state_upsert(fence, seq, acked=True))
            return 0
        outcome = Outcome(
            seq=seq,
            kind=OutcomeKind.DEAD_LETTER,
            failure_count=retry_count,
            failure=Failure(message="exceeded retry limit"),
        )
        return self._dead_letter(conn, fence, outcome, now_ms)

    def extend(self, fence: Fence, seq: int, until_ms: int) -> bool:
        with self.engine.begin() as conn:
            self._fenced(conn, fence)
            done = conn.execute(
                sa.update(delivery)
                .where(*delivery_is(fence, seq), delivery.c.acked.is_(False))
                .values(invisible_until_ms=until_ms)
            )
            return bool(done.rowcount == 1)

    # --- collection and inspection ---------------------------------------------------------------

    def gc(self, topic: str, partition_key: str, created_before_ms: int) -> int:
        with self.engine.begin() as conn:
            low = conn.execute(
                sa.select(sa.func.min(offsets.c.acked_seq)).where(
                    offsets.c.topic == topic, offsets.c.partition_key == partition_key
                )
            ).scalar()
            if not low:
                return 0
            gone = conn.execute(
                sa.delete(messages).where(
                    messages.c.topic == topic,
                    messages.c.partition_key == partition_key,
                    messages.c.seq <= low,
                    messages.c.created_at_ms < created_before_ms,
                )
            ).rowcount
            return int(gone)

    def partitions(self, topic: str) -> list[PartitionInfo]:
        counts = (
            sa.select(messages.c.partition_key, sa.func.count().label("n"))
            .where(messages.c.topic == topic)
            .group_by(messages.c.partition_key)
            .subquery()
        )
        query = (
            sa.select(
                partitions.c.partition_key, partitions.c.last_seq, sa.func.coalesce(counts.c.n, 0)
            )
            .select_from(
                partitions.outerjoin(counts, counts.c.partition_key == partitions.c.partition_key)
            )
            .where(partitions.c.topic == topic)
            .order_by(partitions.c.partition_key)
        )
        with self.engine.connect() as conn:
            return [
                PartitionInfo(topic=topic, partition_key=k, last_seq=s, messages=int(n))
                for k, s, n in conn.execute(query)
            ]

    def watermark(self, consumer_group: str, topic: str, partition_key: str) -> int:
        query = sa.select(offsets.c.acked_seq).where(
            offsets.c.consumer_group == consumer_group,
            offsets.c.topic == topic,
            offsets.c.partition_key == partition_key,
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)


def _keys(fence: Fence) -> dict[str, Any]:
    return {
        "group": fence.consumer_group,
        "topic": fence.topic,
        "partition_key": fence.partition_key,
    }


def _keys_columns(fence: Fence) -> dict[str, Any]:
    return {
        "consumer_group": fence.consumer_group,
        "topic": fence.topic,
        "partition_key": fence.partition_key,
    }
