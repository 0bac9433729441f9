"""The dependents a landing may free, found by the database.

A batch's dependencies are a JSON list in its row (no reverse index), so finding the dependents
of a landed batch in Python meant reading and parsing every in-flight batch with its list: with
the `all` analyzer each head lists every batch ahead of it, so each landing parsed a number of ids
quadratic in the depth. One statement expands the lists in the database instead (SQLite's
`json_each`, PostgreSQL's `json_array_elements_text`) and returns only the heads that qualify.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sq.platform.db import read_only
from sq.submitqueue.entity.batch import ACTIVE_STATES, Batch, BatchState
from sq.submitqueue.orchestrator.storage import tables as t
from sq.submitqueue.orchestrator.storage.batches import batch_of, number_of

_ACTIVE = ", ".join(f"'{s.value}'" for s in ACTIVE_STATES)

_READY = """
SELECT b.* FROM sq_batch b
WHERE b.queue = :queue AND b.state = '{speculating}'
  AND EXISTS (SELECT 1 FROM {elements}(b.dependencies) AS d{columns} WHERE d.value = :landed)
  AND NOT EXISTS (
    SELECT 1 FROM {elements}(b.dependencies) AS d{columns}
    JOIN sq_batch x ON x.queue = b.queue AND x.id = d.value
    WHERE x.state IN ({active}))
  AND NOT EXISTS (
    SELECT 1 FROM sq_batch o, {elements}(o.overtakes) AS v{columns}
    WHERE o.queue = b.queue AND o.state IN ({active}) AND v.value = b.id)
"""


def _ready(dialect: str) -> sa.TextualSelect:
    postgres = dialect == "postgresql"
    return sa.text(
        _READY.format(
            speculating=BatchState.SPECULATING.value,
            active=_ACTIVE,
            elements="json_array_elements_text" if postgres else "json_each",
            # json_each's columns are named (value among them); a set of text needs a name.
            columns="(value)" if postgres else "",
        )
    ).columns(*t.batch.columns)  # typed, so that the JSON columns come back parsed


class DependentStore:
    engine: Engine

    def dependents_freed_by(self, queue: str, landed: str) -> list[Batch]:
        """The speculating batches that depend on `landed` and on nothing still in flight (every
        dependency finished) and that no in-flight batch overtakes (priority's `held_by`),
        oldest first; one statement, whatever the depth."""
        with read_only(self.engine) as conn:
            rows = conn.execute(_ready(conn.dialect.name), {"queue": queue, "landed": landed}).all()
        return sorted((batch_of(r) for r in rows), key=lambda x: number_of(x.id))
