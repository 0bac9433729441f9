"""The queue's hot path on the bare driver (sqlite3 or psycopg), below SQLAlchemy.

Publishing and the partition cycle run a handful of fixed statements per call. Through SQLAlchemy
each execution cost more than the database did (doc/benchmarks.md, "Where the time goes"), so these
statements are written once, in both parameter styles, and run on the driver's cursor. Everything
else in the store stays on SQLAlchemy Core.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

_NAMED = re.compile(r"(?<![:\w]):(\w+)")

Params = Mapping[str, Any] | tuple[Any, ...]
"""A statement's parameters: by name, or a tuple already in the order of `Sql.names`."""


class Sql:
    """One statement, written with `:name` parameters, run with positional ones.

    sqlite3 binds a named parameter by looking its name up in the mapping, as a new string, for
    every parameter of every row; positional binding costs about half as much per row
    (doc/benchmarks.md). So each statement is kept in both drivers' positional styles (`?` and
    `%s`) with the names in order: a caller passes a mapping, or on a hot path a tuple built in
    that order.
    """

    __slots__ = ("_bind", "names", "postgres", "sqlite")

    def __init__(self, text: str) -> None:
        self.names = tuple(_NAMED.findall(text))
        self.sqlite = _NAMED.sub("?", text)
        self.postgres = _NAMED.sub("%s", text.replace("%", "%%"))
        self._bind: Any = itemgetter(*self.names) if len(self.names) > 1 else None

    def bind(self, params: Params) -> tuple[Any, ...]:
        """The parameters as a tuple in the statement's order."""
        if isinstance(params, tuple):
            return params
        if self._bind is not None:
            return self._bind(params)  # type: ignore[no-any-return]
        return tuple(params[name] for name in self.names)

    def __repr__(self) -> str:
        return f"Sql({self.sqlite!r})"


class Tx:
    """A cursor inside an open transaction, speaking whichever dialect the connection is."""

    __slots__ = ("_cursor", "postgres")

    def __init__(self, cursor: Any, *, postgres: bool) -> None:
        self._cursor = cursor
        self.postgres = postgres

    def _text(self, stmt: Sql) -> str:
        return stmt.postgres if self.postgres else stmt.sqlite

    def all(self, stmt: Sql, params: Params) -> list[tuple[Any, ...]]:
        self._cursor.execute(self._text(stmt), stmt.bind(params))
        return list(self._cursor.fetchall())

    def first(self, stmt: Sql, params: Params) -> tuple[Any, ...] | None:
        self._cursor.execute(self._text(stmt), stmt.bind(params))
        row = self._cursor.fetchone()
        if row is not None and not self.postgres:
            # sqlite3 leaves the statement open until fetched to the end; an open SELECT would
            # keep its read snapshot (and its lock) past COMMIT on some versions.
            self._cursor.fetchall()
        return None if row is None else tuple(row)

    def query(self, text: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """A statement built for this call, in the connection's own parameter style."""
        self._cursor.execute(text, params)
        return list(self._cursor.fetchall())

    def execute_text(self, text: str) -> None:
        """A statement without parameters that means the same in both dialects."""
        self._cursor.execute(text)

    def run(self, stmt: Sql, params: Params) -> int:
        self._cursor.execute(self._text(stmt), stmt.bind(params))
        return int(self._cursor.rowcount)

    def many(self, stmt: Sql, rows: Sequence[Params]) -> None:
        """Rows all of one kind: mappings, or tuples in the statement's order."""
        if rows and not isinstance(rows[0], tuple):
            rows = [stmt.bind(row) for row in rows]
        self._cursor.executemany(self._text(stmt), rows)
