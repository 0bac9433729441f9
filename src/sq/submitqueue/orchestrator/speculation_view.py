"""What the speculator is doing for a queue, for people: each in-flight head with its requests,
the heads it waits on, and its funded paths (which dependencies each assumes land, its status
and build). Read in the speculate run's own one transaction (storage/snapshot.py)."""

from __future__ import annotations

from typing import Any

from sq.submitqueue.entity.batch import ACTIVE_STATES
from sq.submitqueue.entity.path import Assumption
from sq.submitqueue.entity.pathset import PathAttempt
from sq.submitqueue.orchestrator.storage import OrchestratorStorage


def speculation_view(storage: OrchestratorStorage, queue: str) -> dict[str, Any]:
    rows = storage.read_queue(queue)
    in_flight = {b.id for b in rows.in_flight}
    heads = []
    for batch in rows.in_flight:
        path_set = rows.path_sets.get(batch.id)
        paths = []
        for entry in path_set.paths if path_set else ():
            build = rows.builds.get(PathAttempt(path_id=entry.id, attempt=entry.attempt))
            paths.append(
                {
                    "path_id": entry.id,
                    "status": entry.status.value,
                    "attempt": entry.attempt,
                    "assumes_landed": [
                        d.batch for d in entry.path.dependencies
                        if d.assumption is Assumption.SUCCEEDS
                    ],
                    "assumes_failed": [
                        d.batch for d in entry.path.dependencies
                        if d.assumption is Assumption.FAILS
                    ],
                    "build_id": build.id if build else None,
                    "build_status": build.status.value if build else None,
                }
            )  # fmt: skip
        heads.append(
            {
                "batch_id": batch.id,
                "state": batch.state.value,
                "requests": list(batch.contains),
                "waiting_on": [d for d in batch.dependencies if d in in_flight],
                "paths": paths,
            }
        )
    return {
        "queue": queue,
        "mode": rows.control.mode.value,
        "active_states": [s.value for s in ACTIVE_STATES],
        "heads": heads,
    }
