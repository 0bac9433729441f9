"""Conflicts between a new batch and batches in flight (speculation-spec §1.9)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sq.submitqueue.entity.batch import BatchID


class ConflictType(enum.StrEnum):
    UNKNOWN = ""
    CONSERVATIVE = "conservative"  # assumed, not observed: serialize to be safe
    TARGET_OVERLAP = "target_overlap"  # the two batches touch the same files or targets


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    batch_id: BatchID
    type: ConflictType


def dependency_ids(conflicts: Iterable[Conflict]) -> tuple[BatchID, ...]:
    """The conflicting batch ids in the order given, each once (first occurrence kept)."""
    return tuple(dict.fromkeys(c.batch_id for c in conflicts))
