"""The queue's hot-path helpers: positional statements and builders of frozen values."""

from __future__ import annotations

import dataclasses

import pytest

from sq.platform.messagequeue.model import OutgoingMessage, StoredMessage
from sq.platform.messagequeue.sql import statements
from sq.platform.messagequeue.sql.dbapi import Sql
from sq.platform.messagequeue.sql.publishing import new_message_row
from sq.platform.messagequeue.store import Outcome, OutcomeKind
from sq.platform.messagequeue.values import positional


def test_a_statement_binds_names_in_order_in_both_styles() -> None:
    stmt = Sql("UPDATE t SET a = :a WHERE b = :b AND c::text = :a AND d LIKE '%x'")
    assert stmt.names == ("a", "b", "a")
    assert stmt.sqlite == "UPDATE t SET a = ? WHERE b = ? AND c::text = ? AND d LIKE '%x'"
    assert stmt.postgres == "UPDATE t SET a = %s WHERE b = %s AND c::text = %s AND d LIKE '%%x'"
    assert stmt.bind({"a": 1, "b": 2, "z": 3}) == (1, 2, 1)
    assert stmt.bind((1, 2, 1)) == (1, 2, 1)
    assert Sql("SELECT :only").bind({"only": 5}) == (5,)
    assert Sql("SELECT 1").bind({}) == ()


def test_hot_rows_are_built_in_their_statements_order() -> None:
    m = OutgoingMessage(
        topic="t", partition_key="p", message_id="m", payload="{}", metadata={"k": "v"}
    )
    row = dict(zip(statements.INSERT_NEW_MESSAGE.names, new_message_row(m, 7, 5), strict=True))
    assert row == {
        "topic": "t",
        "partition_key": "p",
        "seq": 7,
        "message_id": "m",
        "payload": "{}",
        "metadata": '{"k": "v"}',
        "created_at_ms": 5,
        "published_at_ms": 5,
    }
    # cycle.py and publishing.py build these as tuples too.
    assert statements.SET_LAST_SEQ.names == ("topic", "partition_key", "last_seq")
    assert statements.CLAIM.names == (
        "group",
        "topic",
        "partition_key",
        "seq",
        "until",
        "retry_count",
    )


def test_a_positional_builder_makes_the_same_frozen_value() -> None:
    build = positional(Outcome)
    built = build(3, OutcomeKind.ACK, 0, None, 0, None)
    assert built == Outcome(seq=3, kind=OutcomeKind.ACK)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.seq = 4  # type: ignore[misc]
    fields = [f.name for f in dataclasses.fields(StoredMessage)]
    message = positional(StoredMessage)(*fields)
    assert [getattr(message, name) for name in fields] == fields
    out = positional(OutgoingMessage)("t", "p", "m", "{}", {}, 5)
    assert out == OutgoingMessage(
        topic="t", partition_key="p", message_id="m", payload="{}", published_at_ms=5
    )


def test_a_positional_builder_needs_a_slotted_dataclass() -> None:
    @dataclasses.dataclass(frozen=True)
    class Plain:
        a: int

    with pytest.raises(TypeError, match="slots"):
        positional(Plain)
