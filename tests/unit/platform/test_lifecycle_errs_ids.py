from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from sq.platform import errs
from sq.platform.db import create_engine
from sq.platform.lifecycle import Group, LifecycleError
from sq.platform.publish import intent_id, unique_id
from support.databases import postgres_server_url, refused_postgres_url

pytestmark = pytest.mark.anyio


class Member:
    def __init__(
        self, name: str, log: list[str], fail_start: bool = False, fail_stop: bool = False
    ):
        self.name, self.log, self.fail_start, self.fail_stop = name, log, fail_start, fail_stop

    async def start(self) -> None:
        if self.fail_start:
            raise RuntimeError(f"{self.name} cannot start")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError(f"{self.name} cannot stop")


async def test_a_group_starts_in_order_and_stops_in_reverse() -> None:
    log: list[str] = []
    group = Group(Member("a", log), None, Group(Member("b", log), Member("c", log)))
    await group.start()
    await group.stop()
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


async def test_a_failed_start_rolls_back_and_joins_errors() -> None:
    log: list[str] = []
    group = Group(
        Member("a", log, fail_stop=True), Member("b", log), Member("c", log, fail_start=True)
    )
    with pytest.raises(LifecycleError) as caught:
        await group.start()
    assert log == ["start a", "start b", "stop b", "stop a"]
    assert "c cannot start" in str(caught.value)
    assert "a cannot stop" in str(caught.value)


async def test_stop_reaches_every_member() -> None:
    log: list[str] = []
    group = Group(Member("a", log, fail_stop=True), Member("b", log, fail_stop=True))
    await group.start()
    with pytest.raises(LifecycleError) as caught:
        await group.stop()
    assert log[-2:] == ["stop b", "stop a"]
    assert len(caught.value.errors) == 2


def wrapped(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner  # noqa: TRY301  builds a real cause chain
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (ValueError("plain"), errs.Verdict.INFRA),
        (errs.UserError("bad input"), errs.Verdict.USER),
        (errs.RetryableError("again"), errs.Verdict.INFRA_RETRYABLE),
        (errs.VersionMismatchError("cas"), errs.Verdict.INFRA_RETRYABLE),
        (errs.RetryableDependencyError("ci down"), errs.Verdict.INFRA_DEPENDENCY_RETRYABLE),
        (TimeoutError(), errs.Verdict.INFRA_RETRYABLE),
        (sqlite3.OperationalError("database is locked"), errs.Verdict.INFRA_RETRYABLE),
        (sqlite3.OperationalError("no such table: x"), errs.Verdict.INFRA),
        (
            wrapped(RuntimeError("outer"), sqlite3.OperationalError("database is locked")),
            errs.Verdict.INFRA_RETRYABLE,
        ),
        (wrapped(errs.UserError("controller says user"), TimeoutError()), errs.Verdict.USER),
    ],
)
def test_errors_are_classified_in_one_place(error: BaseException, verdict: errs.Verdict) -> None:
    assert errs.verdict_of(error, errs.DEFAULT_CLASSIFIERS) is verdict


def test_a_postgres_sqlstate_decides_retryability() -> None:
    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    assert (
        errs.verdict_of(PgError("40001"), errs.DEFAULT_CLASSIFIERS) is errs.Verdict.INFRA_RETRYABLE
    )
    assert (
        errs.verdict_of(PgError("08006"), errs.DEFAULT_CLASSIFIERS) is errs.Verdict.INFRA_RETRYABLE
    )
    assert errs.verdict_of(PgError("23505"), errs.DEFAULT_CLASSIFIERS) is errs.Verdict.INFRA


def raised_by(engine: sa.Engine, sql: str) -> BaseException:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    except sa.exc.SQLAlchemyError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{sql!r} did not fail")


def test_a_postgres_server_that_refuses_connections_is_transient() -> None:
    with refused_postgres_url() as url:
        error = raised_by(create_engine(url), "SELECT 1")
    assert isinstance(error, sa.exc.OperationalError)
    assert errs.verdict_of(error, errs.DEFAULT_CLASSIFIERS) is errs.Verdict.INFRA_RETRYABLE


def test_bad_sql_on_sqlite_is_not_transient(tmp_path: Path) -> None:
    sqlite_error = raised_by(create_engine(f"sqlite:///{tmp_path / 'x.db'}"), "SELECT * FROM nope")
    assert isinstance(sqlite_error, sa.exc.OperationalError)
    assert errs.verdict_of(sqlite_error, errs.DEFAULT_CLASSIFIERS) is errs.Verdict.INFRA


def test_bad_sql_on_postgres_is_not_transient() -> None:
    pg_error = raised_by(create_engine(postgres_server_url()), "SELEC 1")
    assert isinstance(pg_error, sa.exc.ProgrammingError), pg_error
    assert errs.verdict_of(pg_error, errs.DEFAULT_CLASSIFIERS) is errs.Verdict.INFRA


def test_attribution_merges_subjects_outside_in() -> None:
    inner = errs.attribute(ValueError("x"), errs.Subject(type="batch", id="b1"), step="merge")
    outer = errs.attribute(
        wrapped(RuntimeError("outer"), inner),
        errs.Subject(type="request", id="r1"),
        step="conclude",
    )
    failure = errs.attribution(outer)
    assert failure.subjects == (
        errs.Subject(type="request", id="r1"),
        errs.Subject(type="batch", id="b1"),
    )
    assert failure.detail == {"step": "conclude"}
    assert failure.message == "outer"
    assert errs.Failure.decode(failure.message, failure.encode()) == failure


def test_message_ids_name_their_occasion() -> None:
    assert intent_id("batch/7") == "batch%2F7"
    assert intent_id("batch/7", "merged") != intent_id("batch/7", "failed")
    assert intent_id("a/b", "c") != intent_id("a", "b/c")
    assert unique_id("x") != unique_id("x")


def test_retry_after_takes_the_longest_hint_in_the_chain_and_caps_it() -> None:
    from sq.platform import errs

    class HintedError(Exception):
        def __init__(self, seconds: float | None) -> None:
            super().__init__("hinted")
            self.retry_after_s = seconds

    assert errs.retry_after_ms(ValueError("none")) is None
    outer = HintedError(2.0)
    outer.__cause__ = HintedError(7.5)
    assert errs.retry_after_ms(outer) == 7_500
    assert errs.retry_after_ms(HintedError(float("nan"))) is None
    assert errs.retry_after_ms(HintedError(None)) is None
    assert errs.retry_after_ms(HintedError(10**9)) == round(errs.MAX_RETRY_AFTER_S * 1000)


def test_a_postgres_connection_that_failed_to_open_is_retried() -> None:
    # How a server with every connection slot taken answers: no SQLSTATE reaches the client.
    refused = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "FATAL:  sorry, too many clients already"
    )
    wrapped_by_sqlalchemy = wrapped(sa_exc.OperationalError(None, None, refused), refused)
    for error in (refused, wrapped_by_sqlalchemy):
        assert errs.verdict_of(error, errs.DEFAULT_CLASSIFIERS) is errs.Verdict.INFRA_RETRYABLE
        assert errs.is_outage(error)  # waits out the outage without spending attempts
    duplicate = psycopg.errors.UniqueViolation("duplicate key")
    assert errs.verdict_of(duplicate, errs.DEFAULT_CLASSIFIERS) is errs.Verdict.INFRA
    assert not errs.is_outage(duplicate)
