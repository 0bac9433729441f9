"""The hook store contract (ledger, undeliverable records) on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.hooks import HookStore, MemoryHookStore, UndeliverableEvent
from sq.platform.hooks.sql import SqlHookStore
from support.databases import fresh_postgres_database, schema_drift


@pytest.fixture
def hooks(backend: str, tmp_path: Path) -> Iterator[HookStore]:
    if backend == "memory":
        yield MemoryHookStore()
        return
    if backend == "sqlite":
        engine = create_engine(str(tmp_path / "host.db"))
        migrations.upgrade(engine, migrations.hooks_schema())
        yield SqlHookStore(engine)
        engine.dispose()
        return
    with fresh_postgres_database() as url:
        engine = create_engine(url)
        migrations.upgrade(engine, migrations.hooks_schema())
        yield SqlHookStore(engine)
        engine.dispose()


def record(event_id: str, *, at: int, source: str = "submitqueue") -> UndeliverableEvent:
    return UndeliverableEvent(
        event_id=event_id,
        source=source,
        type="request.landed",
        subject="q/1",
        event=f'{{"id": "{event_id}"}}',
        reason="webhook: HTTP 400",
        failed_at_ms=at - 1,
        attempts=1,
        message_id=event_id,
        recorded_at_ms=at,
    )


def test_the_ledger_remembers_deliveries_until_pruned(hooks: HookStore) -> None:
    assert not hooks.is_delivered("a")
    hooks.mark_delivered("a", 100)
    hooks.mark_delivered("a", 500)
    hooks.mark_delivered("b", 300)
    assert hooks.is_delivered("a") and hooks.is_delivered("b")
    assert hooks.prune_delivered(200) == 1
    assert not hooks.is_delivered("a")
    assert hooks.is_delivered("b")


def test_undeliverable_records_are_listed_newest_first_and_replaced_by_id(
    hooks: HookStore,
) -> None:
    hooks.record_undeliverable(record("a", at=10))
    hooks.record_undeliverable(record("b", at=20, source="stovepipe"))
    hooks.record_undeliverable(replace(record("a", at=30), reason="again", attempts=12))
    assert [r.event_id for r in hooks.undeliverable()] == ["a", "b"]
    assert [r.event_id for r in hooks.undeliverable("stovepipe")] == ["b"]
    assert [r.event_id for r in hooks.undeliverable(limit=1)] == ["a"]
    assert hooks.get_undeliverable("a") == replace(record("a", at=30), reason="again", attempts=12)
    assert hooks.get_undeliverable("missing") is None


def test_removal_only_takes_the_record_it_was_asked_about(hooks: HookStore) -> None:
    hooks.record_undeliverable(record("a", at=10))
    hooks.record_undeliverable(record("a", at=40))
    assert hooks.remove_undeliverable("a", 10) is False
    assert hooks.remove_undeliverable("a", 40) is True
    assert hooks.remove_undeliverable("a", 40) is False
    assert hooks.undeliverable() == []


def test_the_migration_creates_exactly_the_declared_tables(tmp_path: Path) -> None:
    assert schema_drift(str(tmp_path / "host.db"), migrations.hooks_schema()) == []
