"""The `log` stage a window at a time: the entries of many requests in one transaction, ending as
persisting each message in turn does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sq.platform.errs import VersionMismatchError
from sq.platform.messagequeue import RetryPolicy
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import construct
from sq.service.gateway import GatewayDeps, stages
from sq.submitqueue.core.messages import TOPIC_LOG, LogItem, RequestLog, log_partition
from sq.submitqueue.gateway.materializer import CAS_ATTEMPTS, Materializer, UnknownRequestError
from sq.submitqueue.gateway.model import LogEntry, Summary
from sq.submitqueue.gateway.storage import RequestLogStore
from support.databases import fresh_postgres_database
from support.gateway import migrated_engine
from support.mq import Harness

T = 1_000
NewStore = Callable[[], RequestLogStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewStore]:
    """Makes fresh gateway stores on the backend: SQLite files, or PostgreSQL databases."""
    with ExitStack() as stack:
        made = iter(range(10))

        def new_store() -> RequestLogStore:
            if request.param == "sqlite":
                place: Path | str = tmp_path / f"g{next(made)}.db"
            else:
                place = stack.enter_context(fresh_postgres_database())
            engine = migrated_engine(place)
            stack.callback(engine.dispose)
            return RequestLogStore(engine)

        yield new_store


def receipt(number: int) -> Summary:
    return Summary(
        queue="q",
        request_id=f"q/{number}",
        number=number,
        change_uris=(f"fake://h/{number}",),
        land_strategy="rebase",
        received_at_ms=T,
        status="accepting",
        request_version=0,
        status_timestamp_ms=T,
    )


def entry(number: int, status: str, at: int, version: int = 0, kind: str = "status") -> LogEntry:
    return LogEntry(
        queue="q",
        request_id=f"q/{number}",
        key=f"{kind}/{status}/{at}/{version}",
        timestamp_ms=at,
        type="event" if kind == "event" else "status",
        status=status if kind == "status" else "",
        event=status if kind == "event" else "",
        request_version=version,
        metadata={"n": str(number)},
    )


STORED_BEFORE = [entry(1, "started", T + 1, 1), entry(2, "validating", T + 5)]
"""Entries both stores have before the window: the window redelivers one of them."""

WINDOW = [
    entry(1, "accepted", T + 1),
    entry(2, "started", T + 2, 1),  # loses to the stored `validating`
    entry(1, "started", T + 1, 1),  # stored already
    entry(9, "started", T + 1, 1),  # no such request
    entry(2, "building", T + 6, kind="event"),
    entry(1, "validating", T + 3),
    entry(3, "started", T + 2, 1),
    entry(2, "validated", T + 7, 1),
    entry(1, "validated", T + 4, 1),
    entry(3, "cancelling", T + 3),
    entry(1, "batching", T + 2),  # older than `validated`: history only
]


def seeded(store: RequestLogStore) -> Materializer:
    for number in (1, 2, 3):
        store.create_receipt(receipt(number))
    materializer = Materializer(store)
    for e in STORED_BEFORE:
        materializer.persist(e)
    return materializer


def histories(store: RequestLogStore) -> dict[str, list[tuple[str, str, str]]]:
    found = store.history("q", ["q/1", "q/2", "q/3", "q/9"])
    return {r: [(e.key, e.status, e.event) for e in entries] for r, entries in found.items()}


def test_a_window_ends_as_persisting_each_entry_in_turn(where: NewStore) -> None:
    """Interleaved requests, a duplicate, losers, and a request the gateway never received: the
    window keeps every entry in the history, folds every known summary, and says which request
    it does not know, as one entry at a time would."""
    one_by_one, windowed = where(), where()
    alone = seeded(one_by_one)
    for e in WINDOW:
        if e.request_id == "q/9":
            with pytest.raises(UnknownRequestError):
                alone.persist(e)
        else:
            alone.persist(e)
    with pytest.raises(UnknownRequestError, match="q/9"):
        seeded(windowed).persist_many(WINDOW)

    assert histories(windowed) == histories(one_by_one)
    for number in (1, 2, 3):
        assert windowed.get_summary("q", f"q/{number}") == one_by_one.get_summary(
            "q", f"q/{number}"
        )
    assert [windowed.get_summary("q", f"q/{n}").status for n in (1, 2, 3)] == [  # type: ignore[union-attr]
        "validated",
        "validated",
        "cancelling",
    ]

    known = [e for e in WINDOW if e.request_id != "q/9"]
    again = seeded(where()).persist_many(known)
    assert again[("q", "q/1")] == one_by_one.get_summary("q", "q/1")
    assert ("q", "q/9") not in again


def statements(store: RequestLogStore) -> tuple[list[int], list[str]]:
    transactions: list[int] = []
    executed: list[str] = []
    sa.event.listen(store.engine, "begin", lambda conn: transactions.append(1))

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        verb = statement.split()[0]
        if verb != "BEGIN":  # SQLite's `BEGIN IMMEDIATE`, counted as a transaction
            executed.append(verb)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    return transactions, executed


@pytest.mark.parametrize("requests", [2, 40])
def test_a_window_costs_one_transaction_of_three_statements(where: NewStore, requests: int) -> None:
    store = where()
    for number in range(1, requests + 1):
        store.create_receipt(receipt(number))
    window = [
        entry(number, status, T + at, version)
        for at, (status, version) in enumerate([("started", 1), ("validating", 0)], 1)
        for number in range(1, requests + 1)
    ]
    transactions, executed = statements(store)
    summaries = Materializer(store).persist_many(window)
    assert len(transactions) == 1
    assert executed == ["INSERT", "SELECT", "UPDATE"]
    assert {s.status for s in summaries.values()} == {"validating"}
    assert len(summaries) == requests


def test_a_window_whose_summaries_all_win_writes_no_update(where: NewStore) -> None:
    store = where()
    materializer = seeded(store)
    transactions, executed = statements(store)
    materializer.persist_many([entry(1, "accepted", T), entry(2, "built", T, kind="event")])
    assert (len(transactions), executed) == (1, ["INSERT", "SELECT"])


def test_a_summary_changed_under_the_window_fails_it_whole(where: NewStore) -> None:
    """Every summary the window changes is a compare-and-swap: one that another writer moved on
    between the window's read and its update makes the window write nothing, and it is tried
    again until it gives up."""
    store = where()
    seeded(store)

    def race(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.startswith("UPDATE"):
            cursor.execute(
                "UPDATE gateway_request_summary SET version = version + 100 "
                "WHERE request_id = 'q/2'"
            )

    transactions, _ = statements(store)
    sa.event.listen(store.engine, "before_cursor_execute", race)
    with pytest.raises(VersionMismatchError):
        Materializer(store).persist_many(
            [entry(1, "validating", T + 3), entry(2, "validated", T + 9, 1)]
        )
    assert len(transactions) == CAS_ATTEMPTS
    assert store.get_summary("q", "q/1").status == "started"  # type: ignore[union-attr]
    assert store.get_summary("q", "q/2").status == "validating"  # type: ignore[union-attr]
    assert "status/validating/1003/0" not in [k for k, *_ in histories(store)["q/1"]]


def message(e: LogEntry, *more: LogEntry) -> RequestLog:
    return RequestLog(
        request_id=e.request_id,
        queue=e.queue,
        timestamp_ms=e.timestamp_ms,
        status=e.status,
        request_version=e.request_version,
        key=e.key,
        more=tuple(LogItem(key=m.key, timestamp_ms=m.timestamp_ms, status=m.status) for m in more),
    )


@pytest.mark.anyio
async def test_the_log_stage_folds_a_partitions_window_in_one_transaction(tmp_path: Path) -> None:
    """Messages of several requests waiting on one `log` partition: one window, one
    transaction; a message naming a request the gateway never received fails the window, and
    alone only that message is dead-lettered."""
    engine = migrated_engine(tmp_path / "g.db")
    store = RequestLogStore(engine)
    for number in (1, 2, 3):
        store.create_receipt(receipt(number))
    h = Harness(MemoryQueueStore())
    [stage] = stages()
    stage = replace(stage, config={"retry": RetryPolicy(max_attempts=1)})
    pipeline = construct(h.queue, GatewayDeps(materializer=Materializer(store)), [stage])
    partition = "q#log-0"
    for number in (1, 2, 3):
        first = entry(number, "started", T + 1, 1)
        await h.publish(TOPIC_LOG, partition, f"m{number}", message(first))
    transactions, _ = statements(store)
    await pipeline.start()
    await h.settle()
    assert len(transactions) == 1
    assert {store.get_summary("q", f"q/{n}").status for n in (1, 2, 3)} == {"started"}  # type: ignore[union-attr]

    await pipeline.stop()
    bad = [
        message(entry(1, "validating", T + 2), entry(1, "validated", T + 3, 1)),
        message(entry(9, "started", T + 2, 1)),
        message(entry(2, "validating", T + 2)),
    ]
    for index, payload in enumerate(bad):
        await h.publish(TOPIC_LOG, partition, f"n{index}", payload)
    transactions.clear()
    pipeline = construct(h.queue, GatewayDeps(materializer=Materializer(store)), [stage])
    await pipeline.start()
    await h.settle(dead_letters=1)
    assert len(transactions) == 1 + 3 + 1  # the window, each message alone, the reconciler
    assert store.get_summary("q", "q/1").status == "validated"  # type: ignore[union-attr]
    assert store.get_summary("q", "q/2").status == "validating"  # type: ignore[union-attr]
    assert [k for k, *_ in histories(store)["q/9"]] == ["status/started/1002/1"]
    await pipeline.stop()
    await h.queue.close()
    engine.dispose()


def test_a_requests_log_partition_is_stable_and_a_queue_has_few() -> None:
    """One request's entries always share a partition (so they keep their order), a queue's
    spread over at most four, and the mapping never changes between processes or releases (a
    change would split a request's entries across two partitions during an upgrade)."""
    assert log_partition("demo", "demo/1") == log_partition("demo", "demo/1")
    assert [log_partition("demo", f"demo/{n}") for n in (1, 2, 3)] == [
        "demo#log-1",
        "demo#log-2",
        "demo#log-3",
    ]
    spread = {log_partition("demo", f"demo/{n}") for n in range(1, 200)}
    assert spread == {f"demo#log-{b}" for b in range(4)}
