"""Read and repair the queue's tables: what `sq mq` shows and does (platform-spec §3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sq.platform.db import read_only
from sq.platform.messagequeue.model import DLQ_SUFFIX, OutgoingMessage, StoredMessage
from sq.platform.messagequeue.sql.rows import stored_message as _stored
from sq.platform.messagequeue.sql.schema import leases, messages, offsets, partitions
from sq.platform.messagequeue.sql.store import SqlQueueStore


class NotFoundError(LookupError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicRow:
    topic: str
    partitions: int
    messages: int
    dead_letters: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupPosition:
    consumer_group: str
    watermark: int
    lag: int
    lease_owner: str
    lease_epoch: int
    lease_renewed_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionRow:
    partition_key: str
    last_seq: int
    messages: int
    groups: list[GroupPosition]


class QueueAdmin:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = SqlQueueStore(engine)

    def topics(self) -> list[TopicRow]:
        counts = dict(
            self._scalar_pairs(
                sa.select(messages.c.topic, sa.func.count()).group_by(messages.c.topic)
            )
        )
        parts = dict(
            self._scalar_pairs(
                sa.select(partitions.c.topic, sa.func.count()).group_by(partitions.c.topic)
            )
        )
        names = sorted(t for t in set(parts) | set(counts) if not t.endswith(DLQ_SUFFIX))
        orphans = sorted(
            t
            for t in set(parts) | set(counts)
            if t.endswith(DLQ_SUFFIX) and t[: -len(DLQ_SUFFIX)] not in names
        )
        return [
            TopicRow(
                topic=t,
                partitions=int(parts.get(t, 0)),
                messages=int(counts.get(t, 0)),
                dead_letters=int(counts.get(t + DLQ_SUFFIX, 0)),
            )
            for t in names + orphans
        ]

    def partitions(self, topic: str) -> list[PartitionRow]:
        with read_only(self.engine) as conn:
            marks = conn.execute(sa.select(offsets).where(offsets.c.topic == topic)).all()
            held = {
                (r.consumer_group, r.partition_key): r
                for r in conn.execute(sa.select(leases).where(leases.c.topic == topic))
            }
        rows = []
        for info in self.store.partitions(topic):
            groups = []
            for mark in sorted(
                (m for m in marks if m.partition_key == info.partition_key),
                key=lambda m: m.consumer_group,
            ):
                lease = held.get((mark.consumer_group, info.partition_key))
                groups.append(
                    GroupPosition(
                        consumer_group=mark.consumer_group,
                        watermark=mark.acked_seq,
                        lag=max(0, info.last_seq - mark.acked_seq),
                        lease_owner=lease.leased_by if lease else "",
                        lease_epoch=lease.epoch if lease else 0,
                        lease_renewed_at_ms=lease.renewed_at_ms if lease else 0,
                    )
                )
            rows.append(
                PartitionRow(
                    partition_key=info.partition_key,
                    last_seq=info.last_seq,
                    messages=info.messages,
                    groups=groups,
                )
            )
        return rows

    def messages(
        self, topic: str, partition_key: str | None = None, limit: int = 50
    ) -> list[StoredMessage]:
        query = sa.select(messages).where(messages.c.topic == topic)
        if partition_key is not None:
            query = query.where(messages.c.partition_key == partition_key)
        query = query.order_by(messages.c.partition_key, messages.c.seq).limit(limit)
        with read_only(self.engine) as conn:
            return [_stored(row) for row in conn.execute(query)]

    def message(
        self, topic: str, message_id: str, partition_key: str | None = None
    ) -> StoredMessage:
        query = sa.select(messages).where(
            messages.c.topic == topic, messages.c.message_id == message_id
        )
        if partition_key is not None:
            query = query.where(messages.c.partition_key == partition_key)
        with read_only(self.engine) as conn:
            found = conn.execute(query.limit(2)).all()
        if not found:
            raise NotFoundError(f"no message {message_id!r} in topic {topic!r}")
        if len(found) > 1:
            raise NotFoundError(f"message id {message_id!r} is in several partitions: name one")
        return _stored(found[0])

    def replay(self, topic: str, message_id: str | None, now_ms: int) -> list[str]:
        """Publish dead letters of `topic` again, under new ids, and remove them from the DLQ.

        `message_id` None replays every letter. Returns the new message ids.
        """
        letters = self.messages(topic + DLQ_SUFFIX, limit=1_000_000)
        if message_id is not None:
            letters = [m for m in letters if message_id in (m.message_id, _original_id(m))]
            if not letters:
                raise NotFoundError(f"no dead letter {message_id!r} for topic {topic!r}")
        replayed = []
        with self.engine.begin() as conn:
            for letter in letters:
                new_id = f"{_original_id(letter)}/replay/{letter.seq}"
                metadata = dict(letter.metadata)
                metadata["replayed_from"] = f"{letter.topic}/{letter.partition_key}/{letter.seq}"
                self.store.publish_in(
                    conn,
                    [
                        OutgoingMessage(
                            topic=topic,
                            partition_key=letter.partition_key,
                            message_id=new_id,
                            payload=letter.payload,
                            metadata=metadata,
                            published_at_ms=now_ms,
                        )
                    ],
                    now_ms,
                )
                self._delete(conn, letter)
                replayed.append(new_id)
        return replayed

    def purge_dlq(self, topic: str) -> int:
        with self.engine.begin() as conn:
            done = conn.execute(sa.delete(messages).where(messages.c.topic == topic + DLQ_SUFFIX))
            return int(done.rowcount)

    def _delete(self, conn: sa.Connection, m: StoredMessage) -> None:
        conn.execute(
            sa.delete(messages).where(
                messages.c.topic == m.topic,
                messages.c.partition_key == m.partition_key,
                messages.c.seq == m.seq,
            )
        )

    def _scalar_pairs(self, query: sa.Select[Any]) -> list[tuple[Any, Any]]:
        with read_only(self.engine) as conn:
            return [(a, b) for a, b in conn.execute(query)]


def _original_id(letter: StoredMessage) -> str:
    group, sep, original = letter.message_id.partition(":")
    return original if sep and group == letter.failed_group else letter.message_id


def message_dict(m: StoredMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "topic": m.topic,
        "partition_key": m.partition_key,
        "seq": m.seq,
        "id": m.message_id,
        "payload": json.loads(m.payload),
        "metadata": dict(m.metadata),
        "created_at_ms": m.created_at_ms,
        "published_at_ms": m.published_at_ms,
    }
    if m.failed_at_ms:
        out["dead_letter"] = {
            "original_topic": m.original_topic,
            "consumer_group": m.failed_group,
            "failed_at_ms": m.failed_at_ms,
            "failure_count": m.failure_count,
            "last_error": m.last_error,
            "failure_detail": m.failure_detail,
            "original_id": _original_id(m),
        }
    return out
