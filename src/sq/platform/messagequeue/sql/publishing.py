"""Publishing on one open transaction: sequence numbers, dedup, and SQLite's batch path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.sql import statements
from sq.platform.messagequeue.sql.dbapi import Tx


def publish(tx: Tx, batch: Sequence[OutgoingMessage], now_ms: int) -> list[bool]:
    """Store each message unless its id is stored; True for each one stored."""
    if tx.postgres or len(batch) < SQLITE_BATCH_FROM:
        return [insert_message(tx, m, now_ms) for m in batch]
    return _insert_batch_sqlite(tx, batch, now_ms)


SQLITE_BATCH_FROM = 3
"""From this many messages a SQLite publish reads first and then inserts in one go."""


def _insert_batch_sqlite(tx: Tx, batch: Sequence[OutgoingMessage], now_ms: int) -> list[bool]:
    """Many messages in four statements, whatever their number.

    Only under SQLite's write lock, which every transaction here takes first (BEGIN IMMEDIATE):
    no one else can store a message until this commits, so the ids already stored and each
    partition's last seq, read first, stay true. As on the one-by-one path, a stored id (also one
    stored earlier in this batch) allocates no seq and reports False.
    """
    triples = [(m.topic, m.partition_key, m.message_id) for m in batch]
    stored = {
        tuple(row)
        for row in tx.query(statements.stored_ids(len(triples)), [v for t in triples for v in t])
    }
    pairs = list(dict.fromkeys((m.topic, m.partition_key) for m in batch))
    last = {
        (topic, key): seq
        for topic, key, seq in tx.query(
            statements.last_seqs(len(pairs)), [v for p in pairs for v in p]
        )
    }
    rows: list[tuple[Any, ...]] = []
    fresh: list[bool] = []
    for m, triple in zip(batch, triples, strict=True):
        if triple in stored:
            fresh.append(False)
            continue
        stored.add(triple)
        part = (m.topic, m.partition_key)
        last[part] = seq = last.get(part, 0) + 1
        rows.append(new_message_row(m, seq, now_ms))
        fresh.append(True)
    if rows:
        tx.many(statements.INSERT_NEW_MESSAGE, rows)
        # In the order of SET_LAST_SEQ's parameters: topic, partition key, last seq.
        tx.many(statements.SET_LAST_SEQ, [(*part, seq) for part, seq in last.items()])
    return fresh


def new_message_row(m: OutgoingMessage, seq: int, now_ms: int) -> tuple[Any, ...]:
    """INSERT_NEW_MESSAGE's parameters for `m`, in their order (statements.NEW_MESSAGE_COLUMNS)."""
    metadata = json.dumps(dict(m.metadata), sort_keys=True) if m.metadata else None
    return (
        m.topic,
        m.partition_key,
        seq,
        m.message_id,
        m.payload,
        metadata,
        now_ms,
        m.published_at_ms or now_ms,
    )


def _message_row(m: OutgoingMessage, now_ms: int, **failure: Any) -> dict[str, Any]:
    return {
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


def insert_message(tx: Tx, m: OutgoingMessage, now_ms: int, **failure: Any) -> bool:
    if tx.postgres:
        return tx.first(statements.PUBLISH_POSTGRES, _message_row(m, now_ms, **failure)) is not None
    key = {"topic": m.topic, "partition_key": m.partition_key, "message_id": m.message_id}
    seq = tx.first(statements.NEXT_SEQ, key)
    if seq is None:
        return False
    if not failure:
        # NEXT_SEQ allocated a seq only because the id is not stored, under the write lock this
        # transaction holds from then on: the insert cannot conflict.
        tx.run(statements.INSERT_NEW_MESSAGE, new_message_row(m, seq[0], now_ms))
        return True
    row = _message_row(m, now_ms, **failure) | {"seq": seq[0]}
    return tx.first(statements.INSERT_MESSAGE, row) is not None
