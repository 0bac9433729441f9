"""The gateway's request-log storage on SQLite and on PostgreSQL: receipts, compare-and-swap,
the idempotent history, list windows and cursors, and the change-URI index."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from sq.platform.errs import VersionMismatchError
from sq.submitqueue.gateway.materializer import Materializer, UnknownRequestError
from sq.submitqueue.gateway.model import Cursor, LogEntry, Summary
from sq.submitqueue.gateway.storage import RequestLogStore
from support.databases import fresh_postgres_database
from support.gateway import migrated_engine

Q = "q"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RequestLogStore]:
    if request.param == "sqlite":
        engine = migrated_engine(tmp_path / "gateway.db")
        yield RequestLogStore(engine)
        engine.dispose()
        return
    with fresh_postgres_database() as url:
        engine = migrated_engine(url)
        yield RequestLogStore(engine)
        engine.dispose()


def receipt(number: int, *uris: str, at: int = 1_000, status: str = "accepted") -> Summary:
    return Summary(
        queue=Q,
        request_id=f"{Q}/{number}",
        number=number,
        change_uris=uris or (f"fake://h/{number}",),
        land_strategy="rebase",
        received_at_ms=at,
        status=status,
        request_version=0,
        status_timestamp_ms=at,
        metadata={"note": "héllo ✓"},
    )


def entry(number: int, key: str, at: int, status: str = "", event: str = "") -> LogEntry:
    return LogEntry(
        queue=Q,
        request_id=f"{Q}/{number}",
        key=key,
        timestamp_ms=at,
        type="event" if event else "status",
        status=status,
        event=event,
        metadata={"k": "v"},
    )


def test_a_receipt_round_trips_and_a_duplicate_leaves_no_partial_index(
    store: RequestLogStore,
) -> None:
    first = receipt(1, "fake://h/a", "fake://h/b")
    store.create_receipt(first)
    assert store.get_summary(Q, "q/1") == first
    assert store.get_summary(Q, "q/2") is None
    with pytest.raises(sa.exc.IntegrityError):
        store.create_receipt(replace(first, change_uris=("fake://h/c",)))
    assert store.list_by_change(Q, "fake://h/c", 10) == []
    assert [s.request_id for s in store.list_by_change(Q, "fake://h/b", 10)] == ["q/1"]


def test_summaries_change_only_by_compare_and_swap(store: RequestLogStore) -> None:
    store.create_receipt(receipt(1))
    moved = replace(receipt(1), status="started", request_version=1, version=2)
    store.update_summary(moved, expected_version=1)
    assert store.get_summary(Q, "q/1") == moved
    with pytest.raises(VersionMismatchError):
        store.update_summary(replace(moved, status="landed", version=3), expected_version=1)
    assert store.get_summary(Q, "q/1") == moved


def test_the_history_is_appended_once_per_key_in_time_then_arrival_order(
    store: RequestLogStore,
) -> None:
    assert store.append_log(entry(1, "b", 20, status="started"))
    assert store.append_log(entry(1, "a", 10, status="accepted"))
    assert store.append_log(entry(1, "c", 20, event="building"))
    assert not store.append_log(entry(1, "b", 99, status="started"))
    assert store.append_log(entry(2, "b", 5, status="accepted"))
    found = store.history(Q, ["q/1", "q/2", "q/3"])
    assert [e.key for e in found["q/1"]] == ["a", "b", "c"]
    assert found["q/1"][2] == entry(1, "c", 20, event="building")
    assert [e.key for e in found["q/2"]] == ["b"]
    assert "q/3" not in found


def test_lists_are_half_open_newest_first_and_continue_after_a_cursor(
    store: RequestLogStore,
) -> None:
    for number, at in ((1, 100), (2, 200), (3, 200), (4, 300)):
        store.create_receipt(receipt(number, at=at))
    store.create_receipt(receipt(5, at=250, status="accepting"))

    def ids(rows: list[Summary]) -> list[str]:
        return [s.request_id for s in rows]

    assert ids(store.list_queue(Q, 0, 10_000, None, 10)) == ["q/4", "q/3", "q/2", "q/1"]
    assert ids(store.list_queue(Q, 100, 300, None, 10)) == ["q/3", "q/2", "q/1"]
    first = store.list_queue(Q, 0, 10_000, None, 2)
    assert ids(first) == ["q/4", "q/3"]
    after = Cursor(received_at_ms=first[-1].received_at_ms, number=first[-1].number)
    assert ids(store.list_queue(Q, 0, 10_000, after, 2)) == ["q/2", "q/1"]
    assert store.list_queue("other", 0, 10_000, None, 10) == []


def test_requests_by_change_are_visible_ones_newest_first(store: RequestLogStore) -> None:
    store.create_receipt(receipt(1, "fake://h/x", at=100))
    store.create_receipt(receipt(2, "fake://h/y", "fake://h/x", at=200))
    store.create_receipt(receipt(3, "fake://h/x", at=300, status="accepting"))
    assert [s.number for s in store.list_by_change(Q, "fake://h/x", 10)] == [2, 1]
    assert [s.number for s in store.list_by_change(Q, "fake://h/x", 1)] == [2]
    assert store.list_by_change("other", "fake://h/x", 10) == []


def test_the_materializer_folds_entries_and_keeps_unknown_ones(store: RequestLogStore) -> None:
    store.create_receipt(receipt(1, status="accepting"))
    materializer = Materializer(store)
    landed = replace(entry(1, "landed", 30, status="landed"), request_version=3)
    assert materializer.persist(landed).status == "landed"
    assert materializer.persist(entry(1, "started", 40, status="started")).status == "landed"
    summary = store.get_summary(Q, "q/1")
    assert summary is not None and (summary.status, summary.version) == ("landed", 2)
    with pytest.raises(UnknownRequestError):
        materializer.persist(entry(9, "started", 1, status="started"))
    assert [e.key for e in store.history(Q, ["q/9"])["q/9"]] == ["started"]
