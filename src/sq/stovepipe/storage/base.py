"""What every store shares: the engine, the sentinels, and one-transaction get / create / CAS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sq.platform.db import read_only
from sq.platform.errs import VersionMismatchError


class NotFoundError(LookupError):
    pass


class AlreadyExistsError(Exception):
    pass


def columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns]


class SqlBase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _one(self, query: sa.Select[Any], what: str) -> sa.RowMapping:
        with read_only(self.engine) as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(what)
        return row

    def _all(self, query: sa.Select[Any]) -> list[sa.RowMapping]:
        with read_only(self.engine) as conn:
            return list(conn.execute(query).mappings())

    def _insert(self, table: sa.Table, values: Mapping[str, Any], what: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(table.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise AlreadyExistsError(what) from exc

    def _cas(
        self, table: sa.Table, keys: Mapping[str, Any], expected: int, values: Mapping[str, Any]
    ) -> None:
        where = [table.c[k] == v for k, v in keys.items()] + [table.c.version == expected]
        stmt = table.update().where(*where).values(**values, version=expected + 1)
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                raise VersionMismatchError(f"{table.name} {dict(keys)} is not at v{expected}")
