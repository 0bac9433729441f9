"""Counting the SQL statements an engine runs, for tests that a read or write does not grow."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


class Statements:
    """Every SQL statement the engine runs while counting."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.seen = engine, list[str]()

    def _record(self, *args: Any) -> None:
        self.seen.append(str(args[2]))

    def __enter__(self) -> Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    @property
    def reads(self) -> list[str]:
        return [s for s in self.seen if s.lstrip().upper().startswith("SELECT")]
