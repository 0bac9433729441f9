"""Build runs: the runner's side of each build, shared by every orchestrator instance."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sq.platform.build import BuildState
from sq.platform.db import read_only
from sq.submitqueue.entity.build import LOST_REASON, Build, BuildID, BuildRun
from sq.submitqueue.orchestrator.storage import tables as t
from sq.submitqueue.orchestrator.storage.batches import build_of

_UNFINISHED = (BuildState.PENDING.value, BuildState.RUNNING.value)


def build_run_of(row: Any) -> BuildRun:
    return BuildRun(
        queue=row.queue,
        build_id=BuildID(row.build_id),
        owner=row.owner,
        state=BuildState(row.state),
        reason=row.reason,
        heartbeat_ms=row.heartbeat_ms,
        cancel_requested=bool(row.cancel_requested),
    )


def _insert(engine: Engine) -> Any:
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def _build_row(queue: str, build: Build) -> dict[str, Any]:
    return {
        "queue": queue,
        "id": build.id,
        "batch_id": build.batch_id,
        "path_id": build.path_id,
        "attempt": build.attempt,
        "status": build.status.value,
        "base": build.base,
        "assumed": list(build.assumed),
    }


def _upsert_run(insert: Any, run: BuildRun) -> Any:
    values = {
        "owner": run.owner,
        "state": run.state.value,
        "reason": run.reason,
        "heartbeat_ms": run.heartbeat_ms,
        "cancel_requested": run.cancel_requested,
    }
    return (
        insert(t.build_run)
        .values(queue=run.queue, build_id=run.build_id, **values)
        .on_conflict_do_update(index_elements=["queue", "build_id"], set_=values)
    )


class BuildRunStore:
    engine: Engine

    def record_builds(self, queue: str, builds: list[Build]) -> dict[BuildID, Build]:
        """Insert each build not recorded yet, in one transaction; every one as now stored, so a
        build recorded by an earlier delivery keeps the base it was given then."""
        if not builds:
            return {}
        insert = _insert(self.engine)
        c = t.build.c
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.build)
                .values([_build_row(queue, b) for b in builds])
                .on_conflict_do_nothing()
            )
            rows = conn.execute(
                sa.select(t.build).where(c.queue == queue, c.id.in_([b.id for b in builds]))
            ).all()
        return {BuildID(row.id): build_of(row) for row in rows}

    def start_build(self, queue: str, build: Build, run: BuildRun | None) -> None:
        """In one transaction: the build (kept if there), its write-once path link, and its run,
        taken over when an earlier trigger's row is there (a retried trigger in another instance
        runs the build again, so that instance owns it now)."""
        insert = _insert(self.engine)
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.build).values(**_build_row(queue, build)).on_conflict_do_nothing()
            )
            conn.execute(
                insert(t.path_build)
                .values(
                    queue=queue, path_id=build.path_id, attempt=build.attempt, build_id=build.id
                )
                .on_conflict_do_nothing()
            )
            if run is not None:
                conn.execute(_upsert_run(insert, run))

    def record_run(self, run: BuildRun) -> None:
        """`start_build`'s run alone: insert it, or take it over."""
        with self.engine.begin() as conn:
            conn.execute(_upsert_run(_insert(self.engine), run))

    def get_run(self, queue: str, build_id: str) -> BuildRun | None:
        c = t.build_run.c
        with read_only(self.engine) as conn:
            row = conn.execute(
                sa.select(t.build_run).where(c.queue == queue, c.build_id == build_id)
            ).one_or_none()
        return None if row is None else build_run_of(row)

    def finish_run(
        self, queue: str, build_id: str, owner: str, state: BuildState, reason: str, now_ms: int
    ) -> bool:
        """Record the owner's verdict; False (nothing written) when another instance owns the run
        by now, or it is finished already (the first verdict stands: one presumed lost was built
        again, whatever its owner says later)."""
        return self._finish_unfinished(
            queue, build_id, owner, state=state.value, reason=reason, heartbeat_ms=now_ms
        )

    def presume_lost(self, run: BuildRun) -> bool:
        """Record `run` cancelled because its owner fell silent, if it is still as read (same
        owner, unfinished, no heartbeat since); False when the owner spoke up in between."""
        return self._finish_unfinished(
            run.queue,
            run.build_id,
            run.owner,
            t.build_run.c.heartbeat_ms == run.heartbeat_ms,
            state=BuildState.CANCELLED.value,
            reason=LOST_REASON,
        )

    def _finish_unfinished(
        self, queue: str, build_id: str, owner: str, *also: Any, **values: Any
    ) -> bool:
        """Write `values` on the run if `owner` still owns it and it is unfinished (and `also`
        holds); whether it was written."""
        c = t.build_run.c
        owned = (c.queue == queue, c.build_id == build_id, c.owner == owner)
        with self.engine.begin() as conn:
            stmt = sa.update(t.build_run).where(*owned, c.state.in_(_UNFINISHED), *also)
            return bool(conn.execute(stmt.values(**values)).rowcount)

    def request_cancel(self, queue: str, build_id: str) -> None:
        c = t.build_run.c
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(t.build_run)
                .where(c.queue == queue, c.build_id == build_id)
                .values(cancel_requested=True)
            )

    def beat_runs(self, owner: str, now_ms: int) -> list[BuildRun]:
        """Renew every unfinished run of `owner` in one statement; those to cancel, in a second."""
        c = t.build_run.c
        mine = sa.and_(c.owner == owner, c.state.in_(_UNFINISHED))
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.build_run).where(mine).values(heartbeat_ms=now_ms))
            rows = conn.execute(sa.select(t.build_run).where(mine, c.cancel_requested)).all()
        return [build_run_of(r) for r in rows]
