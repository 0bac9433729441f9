"""Build runs (entity/run.py): which instance's runner runs each build, and what it reported."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from sq.platform.build import BuildState
from sq.stovepipe.entity.run import BuildRun
from sq.stovepipe.storage.base import SqlBase
from sq.stovepipe.storage.schema import build_runs

_UNFINISHED = (BuildState.PENDING.value, BuildState.RUNNING.value)


def _run_of(row: sa.RowMapping) -> BuildRun:
    return BuildRun(
        queue=row["queue"],
        build_id=row["build_id"],
        owner=row["owner"],
        state=BuildState(row["state"]),
        reason=row["reason"],
        heartbeat_ms=row["heartbeat_ms"],
        cancel_requested=bool(row["cancel_requested"]),
    )


class BuildRunStores(SqlBase):
    def record_run(self, run: BuildRun) -> None:
        """Insert the run, or take it over: a build triggered again (its runner was lost, or a
        redelivered `build` ran in another instance) belongs to whoever triggered it last, with
        any earlier request to cancel it forgotten."""
        insert: Any = (
            postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        )
        values = {
            "owner": run.owner,
            "state": run.state.value,
            "reason": run.reason,
            "heartbeat_ms": run.heartbeat_ms,
            "cancel_requested": run.cancel_requested,
        }
        stmt = (
            insert(build_runs)
            .values(queue=run.queue, build_id=run.build_id, **values)
            .on_conflict_do_update(index_elements=["queue", "build_id"], set_=values)
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def get_run(self, queue: str, build_id: str) -> BuildRun | None:
        c = build_runs.c
        rows = self._all(sa.select(build_runs).where(c.queue == queue, c.build_id == build_id))
        return _run_of(rows[0]) if rows else None

    def finish_run(
        self, queue: str, build_id: str, owner: str, state: BuildState, reason: str, now_ms: int
    ) -> bool:
        """Record the owner's final verdict; False (nothing written) when the run is another
        instance's by now, or already finished (the first verdict stands)."""
        c = build_runs.c
        stmt = (
            sa.update(build_runs)
            .where(
                c.queue == queue,
                c.build_id == build_id,
                c.owner == owner,
                c.state.in_(_UNFINISHED),
            )
            .values(state=state.value, reason=reason, heartbeat_ms=now_ms)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    def request_cancel(self, queue: str, build_id: str) -> None:
        """Ask the run's owner to stop it at its next heartbeat (a no-op for an unknown run)."""
        c = build_runs.c
        stmt = (
            sa.update(build_runs)
            .where(c.queue == queue, c.build_id == build_id)
            .values(cancel_requested=True)
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def beat_runs(self, owner: str, now_ms: int) -> list[BuildRun]:
        """Renew every unfinished run of `owner` in one statement; those to cancel, in a second."""
        c = build_runs.c
        mine = sa.and_(c.owner == owner, c.state.in_(_UNFINISHED))
        with self.engine.begin() as conn:
            conn.execute(sa.update(build_runs).where(mine).values(heartbeat_ms=now_ms))
            rows = conn.execute(sa.select(build_runs).where(mine, c.cancel_requested)).mappings()
            return [_run_of(r) for r in rows]
