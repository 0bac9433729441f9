"""The gateway's storage functions: plain SQLAlchemy Core, one transaction each.

Summaries change only by compare-and-swap on `version`. A receipt (summary plus change-URI index
rows) is written in one transaction, so the index never points at a missing summary. Readers see
only receipts whose start message was published (status past `accepting`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sq.platform.db import read_only
from sq.platform.errs import VersionMismatchError
from sq.submitqueue.gateway.model import Cursor, LogEntry, Summary
from sq.submitqueue.gateway.status import RequestStatus
from sq.submitqueue.gateway.storage.schema import change_request, request_log, request_summary

_VISIBLE = request_summary.c.status != RequestStatus.ACCEPTING.value
_NEWEST_FIRST = (request_summary.c.received_at_ms.desc(), request_summary.c.number.desc())


class RequestLogStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if postgres else sqlite.insert
        # The request log's hot path (every entry of every request) runs statements built once
        # here, with bound parameters: building Core statements per call was a large share of the
        # stack's CPU (doc/benchmarks.md, "Ninth session: where a deep run's time goes").
        self._append_rows = self._insert(request_log).on_conflict_do_nothing(
            index_elements=[request_log.c.queue, request_log.c.request_id, request_log.c.entry_key]
        )
        c = request_summary.c
        self._summary_to_fold = sa.select(request_summary).where(
            c.queue == sa.bindparam("q_queue"), c.request_id == sa.bindparam("q_request_id")
        )
        # Locked in key order, so that two windows naming the same requests cannot deadlock.
        self._summaries_to_fold = (
            sa.select(request_summary)
            .where(sa.tuple_(c.queue, c.request_id).in_(sa.bindparam("q_keys", expanding=True)))
            .order_by(c.queue, c.request_id)
        )
        if postgres:
            self._summary_to_fold = self._summary_to_fold.with_for_update()
            self._summaries_to_fold = self._summaries_to_fold.with_for_update()
        self._swap_summary = sa.update(request_summary).where(
            c.queue == sa.bindparam("q_queue"),
            c.request_id == sa.bindparam("q_request_id"),
            c.version == sa.bindparam("q_version"),
        )

    def create_receipt(self, summary: Summary) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(request_summary).values(**_summary_row(summary)))
            conn.execute(
                sa.insert(change_request),
                [
                    {
                        "queue": summary.queue,
                        "change_uri": uri,
                        "number": summary.number,
                        "request_id": summary.request_id,
                        "received_at_ms": summary.received_at_ms,
                    }
                    for uri in summary.change_uris
                ],
            )

    def get_summary(self, queue: str, request_id: str) -> Summary | None:
        query = sa.select(request_summary).where(
            request_summary.c.queue == queue, request_summary.c.request_id == request_id
        )
        with read_only(self.engine) as conn:
            row = conn.execute(query).mappings().first()
        return _summary(row) if row else None

    def update_summary(self, summary: Summary, expected_version: int) -> None:
        """Write `summary` if the stored version is still `expected_version`."""
        stmt = (
            sa.update(request_summary)
            .where(
                request_summary.c.queue == summary.queue,
                request_summary.c.request_id == summary.request_id,
                request_summary.c.version == expected_version,
            )
            .values(**_summary_row(summary))
        )
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                raise VersionMismatchError(f"summary of {summary.request_id} changed under us")

    def fold(
        self, entry: LogEntry, fold: Callable[[Summary, LogEntry], Summary | None]
    ) -> Summary | None:
        """`fold_all` of one entry."""
        return self.fold_all([entry], fold)

    def fold_all(
        self, entries: Sequence[LogEntry], fold: Callable[[Summary, LogEntry], Summary | None]
    ) -> Summary | None:
        """Append `entries` (each once per key) and fold them, in order, into their request's
        summary, in one transaction. They all name one request.

        `fold` gets the summary so far and returns its next version, or None to keep it. The
        summary row is locked for the transaction on PostgreSQL (SQLite serializes writers), and
        the update is still a compare-and-swap on `version`. Returns the summary after the
        entries, or None when no receipt exists (the entries are kept in the history all the
        same).
        """
        first = entries[0]
        if any((e.queue, e.request_id) != (first.queue, first.request_id) for e in entries):
            raise ValueError("fold_all: entries of more than one request")
        key = {"q_queue": first.queue, "q_request_id": first.request_id}
        with self.engine.begin() as conn:
            conn.execute(self._append_rows, [_log_row(entry) for entry in entries])
            row = conn.execute(self._summary_to_fold, key).mappings().first()
            if row is None:
                return None
            stored = current = _summary(row)
            for entry in entries:
                current = fold(current, entry) or current
            if current is stored:
                return current
            swap = {**_summary_row(current), **key, "q_version": stored.version}
            if conn.execute(self._swap_summary, swap).rowcount != 1:
                raise VersionMismatchError(f"summary of {first.request_id} changed under us")
            return current

    def fold_many(
        self, entries: Sequence[LogEntry], fold: Callable[[Summary, LogEntry], Summary | None]
    ) -> dict[tuple[str, str], Summary]:
        """`fold_all` of entries of any number of requests, in one transaction of three
        statements whatever their number: the history rows appended with one `executemany`, the
        summaries read (and locked, on PostgreSQL) with one select, the changed ones written
        with one `executemany` of compare-and-swaps. Each request's entries are folded in their
        order here, as `fold_all` would fold them alone.

        Returns the summary after the entries of each `(queue, request_id)` that has a receipt;
        one without is absent (its entries are kept in the history all the same). Raises
        VersionMismatchError, having written nothing, when a summary changed under us.
        """
        by_request: dict[tuple[str, str], list[LogEntry]] = {}
        for entry in entries:
            by_request.setdefault((entry.queue, entry.request_id), []).append(entry)
        if not by_request:
            return {}
        # Appended a request at a time (each in its own order, as `fold_all` appends them), in
        # key order like the locks below.
        rows = [_log_row(e) for key in sorted(by_request) for e in by_request[key]]
        folded: dict[tuple[str, str], Summary] = {}
        swaps: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            conn.execute(self._append_rows, rows)
            read = conn.execute(self._summaries_to_fold, {"q_keys": list(by_request)})
            for row in read.mappings():
                stored = current = _summary(row)
                key = (stored.queue, stored.request_id)
                for entry in by_request[key]:
                    current = fold(current, entry) or current
                folded[key] = current
                if current is not stored:
                    swaps.append(
                        {
                            **_summary_row(current),
                            "q_queue": key[0],
                            "q_request_id": key[1],
                            "q_version": stored.version,
                        }
                    )
            if swaps and conn.execute(self._swap_summary, swaps).rowcount != len(swaps):
                raise VersionMismatchError("a summary of the window changed under us")
        return folded

    def append_log(self, entry: LogEntry) -> bool:
        """Append one history row; False when an entry with the same key is already there."""
        with self.engine.begin() as conn:
            added = conn.execute(self._append_rows.returning(request_log.c.id), _log_row(entry))
            return added.first() is not None

    def history(self, queue: str, request_ids: Sequence[str]) -> dict[str, list[LogEntry]]:
        """Each request's entries, oldest first (ties in the order they were recorded)."""
        query = (
            sa.select(request_log)
            .where(request_log.c.queue == queue, request_log.c.request_id.in_(list(request_ids)))
            .order_by(request_log.c.timestamp_ms, request_log.c.id)
        )
        found: dict[str, list[LogEntry]] = {}
        with read_only(self.engine) as conn:
            for row in conn.execute(query).mappings():
                found.setdefault(row["request_id"], []).append(_entry(row))
        return found

    def list_queue(
        self, queue: str, after_ms: int, before_ms: int, cursor: Cursor | None, limit: int
    ) -> list[Summary]:
        """Visible requests received in `[after_ms, before_ms)`, newest first, after `cursor`."""
        c = request_summary.c
        query = sa.select(request_summary).where(
            c.queue == queue, c.received_at_ms >= after_ms, c.received_at_ms < before_ms, _VISIBLE
        )
        if cursor is not None:
            query = query.where(
                sa.or_(
                    c.received_at_ms < cursor.received_at_ms,
                    sa.and_(c.received_at_ms == cursor.received_at_ms, c.number < cursor.number),
                )
            )
        query = query.order_by(*_NEWEST_FIRST).limit(limit)
        with read_only(self.engine) as conn:
            return [_summary(row) for row in conn.execute(query).mappings()]

    def list_by_change(self, queue: str, change_uri: str, limit: int) -> list[Summary]:
        """Visible requests that name `change_uri`, newest first."""
        joined = request_summary.join(
            change_request,
            sa.and_(
                change_request.c.queue == request_summary.c.queue,
                change_request.c.request_id == request_summary.c.request_id,
            ),
        )
        query = (
            sa.select(request_summary)
            .select_from(joined)
            .where(change_request.c.queue == queue, change_request.c.change_uri == change_uri)
            .where(_VISIBLE)
            .order_by(*_NEWEST_FIRST)
            .limit(limit)
        )
        with read_only(self.engine) as conn:
            return [_summary(row) for row in conn.execute(query).mappings()]


def _log_row(entry: LogEntry) -> dict[str, Any]:
    return {
        "queue": entry.queue,
        "request_id": entry.request_id,
        "entry_key": entry.key,
        "timestamp_ms": entry.timestamp_ms,
        "type": entry.type,
        "status": entry.status,
        "event": entry.event,
        "request_version": entry.request_version,
        "last_error": entry.last_error,
        "metadata": dict(entry.metadata),
    }


def _summary_row(s: Summary) -> dict[str, Any]:
    return {
        "queue": s.queue,
        "request_id": s.request_id,
        "number": s.number,
        "change_uris": list(s.change_uris),
        "land_strategy": s.land_strategy,
        "received_at_ms": s.received_at_ms,
        "status": s.status,
        "request_version": s.request_version,
        "status_timestamp_ms": s.status_timestamp_ms,
        "last_error": s.last_error,
        "metadata": dict(s.metadata),
        "version": s.version,
    }


def _summary(row: sa.RowMapping) -> Summary:
    return Summary(
        queue=row["queue"],
        request_id=row["request_id"],
        number=row["number"],
        change_uris=tuple(row["change_uris"] or ()),
        land_strategy=row["land_strategy"],
        received_at_ms=row["received_at_ms"],
        status=row["status"],
        request_version=row["request_version"],
        status_timestamp_ms=row["status_timestamp_ms"],
        last_error=row["last_error"],
        metadata=dict(row["metadata"] or {}),
        version=row["version"],
    )


def _entry(row: sa.RowMapping) -> LogEntry:
    return LogEntry(
        queue=row["queue"],
        request_id=row["request_id"],
        key=row["entry_key"],
        timestamp_ms=row["timestamp_ms"],
        type="event" if row["type"] == "event" else "status",
        status=row["status"],
        event=row["event"],
        request_version=row["request_version"],
        last_error=row["last_error"],
        metadata=dict(row["metadata"] or {}),
    )
