"""Heads finalize left waiting, remembered so that a caller running finalize over and over (the
simulator) does not weigh them again while nothing they are judged on has moved.

Without early landing, a head's verdict `wait`, the cancel marks on its set and the event it
reports depend only on its path set and on which of its dependencies have succeeded and which
have failed or been cancelled (`rules` reads nothing else: priority holds and pending failure
only act on merge and fail verdicts). So a head that waited keeps waiting, with the same set and
the same event, for as long as the set it ended with is the one it is handed again and the
finished ones among its dependencies are the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sq.submitqueue.entity.batch import Batch, BatchID
from sq.submitqueue.entity.finished import Finished
from sq.submitqueue.entity.pathset import PathSet

if TYPE_CHECKING:
    from sq.submitqueue.core.speculation.finalize import RequestEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class Waited:
    path_set: PathSet | None
    """The set as finalize left it (after its cancel marks)."""
    dependencies: tuple[BatchID, ...]
    among: frozenset[BatchID]
    succeeded: frozenset[BatchID]
    """The dependencies that had succeeded."""
    failed: frozenset[BatchID]
    """The dependencies that had failed or been cancelled."""
    event: RequestEvent | None
    """What finalize reported for the head."""


class WaitMemo:
    """The heads one caller's last finalize runs left waiting. Pass the same memo only to runs
    over successive snapshots of one queue."""

    def __init__(self) -> None:
        self._waited: dict[BatchID, Waited] = {}

    def begin(self, open_heads: Iterable[BatchID]) -> None:
        """Forget the heads that are no longer open."""
        waited = self._waited
        self._waited = {h: w for h in open_heads if (w := waited.get(h)) is not None}

    def still_waiting(
        self, head: Batch, path_set: PathSet | None, finished: Finished
    ) -> Waited | None:
        """The head's remembered wait, if it holds for this set and these finished batches."""
        waited = self._waited.get(head.id)
        if (
            waited is None
            or waited.path_set is not path_set
            or waited.dependencies != head.dependencies
        ):
            return None
        among = waited.among
        if (
            among & finished.succeeded != waited.succeeded
            or among & finished.failed != waited.failed
        ):
            return None
        return waited

    def remember(
        self, head: Batch, path_set: PathSet | None, finished: Finished, event: RequestEvent | None
    ) -> None:
        # Every batch a path names: a path names the head's dependencies, unless it is malformed.
        among = frozenset(head.dependencies).union(
            d.batch for e in (path_set.paths if path_set else ()) for d in e.path.dependencies
        )
        self._waited[head.id] = Waited(
            path_set=path_set,
            dependencies=head.dependencies,
            among=among,
            succeeded=among & finished.succeeded,
            failed=among & finished.failed,
            event=event,
        )

    def forget(self, head: BatchID) -> None:
        self._waited.pop(head, None)
