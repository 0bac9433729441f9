"""The winner rules (§3.5) and convergence: any order, any duplicates, the same summary."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

import sq
from sq.platform import migrations
from sq.submitqueue.gateway.materializer import Materializer, UnknownRequestError
from sq.submitqueue.gateway.model import LogEntry, Summary
from sq.submitqueue.gateway.storage import RequestLogStore, schema
from support.gateway import migrated_engine

T = 1_000


def receipt(number: int = 1) -> Summary:
    return Summary(
        queue="q",
        request_id=f"q/{number}",
        number=number,
        change_uris=("fake://h/a",),
        land_strategy="rebase",
        received_at_ms=T,
        status="accepting",
        request_version=0,
        status_timestamp_ms=T,
    )


def entry(status: str, at: int, version: int = 0, kind: str = "status") -> LogEntry:
    return LogEntry(
        queue="q",
        request_id="q/1",
        key=f"{kind}/{status}/{at}/{version}",
        timestamp_ms=at,
        type="event" if kind == "event" else "status",
        status=status if kind == "status" else "",
        event=status if kind == "event" else "",
        request_version=version,
    )


def status_after(summary: Summary, *entries: LogEntry) -> str:
    """What the materializer's fold leaves as the status (its decision, without storage)."""
    for e in entries:
        if not summary.wins_over(e):
            summary = replace(
                summary,
                status=e.status,
                request_version=e.request_version,
                status_timestamp_ms=e.timestamp_ms,
            )
    return summary.status


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([entry("accepted", T)], "accepted"),
        ([entry("started", T - 5)], "started"),  # anything beats the hidden receipt
        ([entry("started", T + 1), entry("accepted", T + 9)], "started"),
        ([entry("accepted", T), entry("accepted", T + 1)], "accepted"),
        ([entry("landed", T + 1, 3), entry("landing", T + 9)], "landed"),
        ([entry("error", T + 9, 2), entry("landed", T + 1, 3)], "landed"),
        ([entry("landed", T + 1, 3), entry("error", T + 9, 3)], "error"),
        ([entry("started", T + 2), entry("validating", T + 2)], "validating"),
        ([entry("speculating", T + 1), entry("building", T + 5, kind="event")], "speculating"),
        ([entry("cancelling", T + 1), entry("started", T + 5, 1)], "cancelling"),
        ([entry("cancelling", T + 9), entry("cancelled", T + 1, 2)], "cancelled"),
        ([entry("cancelled", T + 1, 2), entry("accepted", T + 9)], "cancelled"),
        ([entry("speculated", T + 1), entry("speculating", T + 2)], "speculating"),
    ],
)
def test_winner_rules(entries: list[LogEntry], expected: str) -> None:
    assert status_after(receipt(), *entries) == expected


STATUSES = ["accepted", "started", "validating", "batched", "speculating", "landing", "cancelling"]
log_entries = st.lists(
    st.one_of(
        st.builds(entry, st.sampled_from(STATUSES), st.integers(T, T + 5)),
        st.builds(
            entry,
            st.sampled_from(["landed", "error", "cancelled"]),
            st.integers(T, T + 5),
            st.integers(0, 3),
        ),
        st.builds(
            entry,
            st.sampled_from(["building", "built"]),
            st.integers(T, T + 5),
            st.just(0),
            st.just("event"),
        ),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(entries=log_entries, order=st.randoms(use_true_random=False))
def test_any_order_with_duplicates_converges(entries: list[LogEntry], order: object) -> None:
    shuffled = entries + entries[: len(entries) // 2]
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    assert status_after(receipt(), *shuffled) == status_after(receipt(), *entries)


def test_persist_appends_once_per_key_and_needs_a_receipt(tmp_path: Path) -> None:
    store = RequestLogStore(migrated_engine(tmp_path / "g.db"))
    materializer = Materializer(store)
    store.create_receipt(receipt())
    first = materializer.persist(entry("started", T + 1, 1))
    again = materializer.persist(entry("started", T + 1, 1))
    assert (first.status, first.version) == ("started", 2)
    assert again.version == 2
    assert [e.status for e in store.history("q", ["q/1"])["q/1"]] == ["started"]
    with pytest.raises(UnknownRequestError):
        materializer.persist(
            LogEntry(queue="q", request_id="q/9", key="k", timestamp_ms=1, status="started")
        )


def test_only_gateway_storage_defines_or_names_the_gateway_tables() -> None:
    """Ownership at the storage level: the tables belong to one metadata and one package."""
    names = {t.name for t in schema.TABLES}
    assert set(schema.metadata.tables) == names
    owner = Path(schema.__file__).parent
    for other in (migrations.queue_schema(), migrations.counter_schema()):
        assert not names & set(other.metadata.tables)
    root = Path(sq.__file__).parent
    for path in root.rglob("*.py"):
        if owner in path.parents:
            continue
        text = path.read_text(encoding="utf-8")
        for name in names:
            assert name not in text, f"{path.relative_to(root)} names the gateway table {name}"


def test_each_entry_costs_one_transaction(tmp_path: Path) -> None:
    engine = migrated_engine(tmp_path / "g.db")
    store = RequestLogStore(engine)
    store.create_receipt(receipt())
    transactions = []
    sa.event.listen(engine, "begin", lambda conn: transactions.append(1))
    materializer = Materializer(store)
    materializer.persist(entry("accepted", T + 1))
    materializer.persist(entry("building", T + 2, kind="event"))
    materializer.persist(entry("started", T + 3))
    assert len(transactions) == 3
    assert store.get_summary("q", "q/1").status == "started"  # type: ignore[union-attr]


def test_entries_of_one_message_cost_one_transaction_and_end_as_one_by_one(
    tmp_path: Path,
) -> None:
    """A message bundling several entries of a request leaves the history and the summary as
    persisting them one at a time does, in one transaction; a replay bundled differently adds
    nothing."""
    entries = [
        entry("started", T + 1, 1),
        entry("validating", T + 2),
        entry("building", T + 3, kind="event"),
        entry("validated", T + 4, 1),
    ]
    one_by_one = RequestLogStore(migrated_engine(tmp_path / "a.db"))
    one_by_one.create_receipt(receipt())
    for e in entries:
        Materializer(one_by_one).persist(e)
    engine = migrated_engine(tmp_path / "b.db")
    bundled = RequestLogStore(engine)
    bundled.create_receipt(receipt())
    transactions = []
    sa.event.listen(engine, "begin", lambda conn: transactions.append(1))
    summary = Materializer(bundled).persist_all(entries)
    assert len(transactions) == 1
    Materializer(bundled).persist_all(entries[2:])  # a replay that bundled them otherwise

    def seen(store: RequestLogStore) -> list[tuple[str, str, str]]:
        return [(e.key, e.status, e.event) for e in store.history("q", ["q/1"])["q/1"]]

    assert seen(bundled) == seen(one_by_one)
    expected = one_by_one.get_summary("q", "q/1")
    assert expected is not None
    assert (summary.status, summary.request_version) == ("validated", 1)
    assert bundled.get_summary("q", "q/1") == replace(expected, version=summary.version)


def test_entries_of_two_requests_are_never_folded_together(tmp_path: Path) -> None:
    store = RequestLogStore(migrated_engine(tmp_path / "g.db"))
    other = replace(entry("started", T + 1), request_id="q/2")
    with pytest.raises(ValueError, match="more than one request"):
        Materializer(store).persist_all([entry("started", T + 1), other])
