"""Speculation paths: one possible future of a head, and its stable id (spec §1.3-1.4)."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import NewType

from sq.submitqueue.entity.batch import BatchID

PathID = NewType("PathID", str)


class Assumption(enum.StrEnum):
    UNKNOWN = ""  # never valid; a corrupt or malformed proposal carries it
    SUCCEEDS = "succeeds"  # the head is built on top of the dependency
    FAILS = "fails"  # the head is built without it (it failed or was cancelled)


@dataclass(frozen=True, slots=True, kw_only=True)
class PathDependency:
    batch: BatchID
    assumption: Assumption


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeculationPath:
    """A head plus exactly one assumption per dependency of the head, in the head's order."""

    head: BatchID
    dependencies: tuple[PathDependency, ...] = ()

    @property
    def id(self) -> PathID:
        return path_id(self)

    def base(self) -> tuple[BatchID, ...]:
        """The dependencies the build is stacked on (assumed to succeed), in path order."""
        return tuple(d.batch for d in self.dependencies if d.assumption is Assumption.SUCCEEDS)


def path_id(path: SpeculationPath) -> PathID:
    """Lowercase hex SHA-256 of the head followed by one `\\n<dep>=<assumption>` per dependency.

    Byte-identical to the reference (§1.4): the order of dependencies is part of the identity, and
    a head without dependencies hashes just its own id.
    """
    # str() of a StrEnum member is its value; `.value` goes through a slow descriptor.
    text = path.head + "".join(
        ["\n" + d.batch + "=" + str(d.assumption) for d in path.dependencies]
    )
    return PathID(hashlib.sha256(text.encode("utf-8")).hexdigest())


def make_path(head: str, *assumptions: tuple[str, Assumption]) -> SpeculationPath:
    """Shorthand for building a path from `(dependency, assumption)` pairs."""
    return SpeculationPath(
        head=BatchID(head),
        dependencies=tuple(PathDependency(batch=BatchID(b), assumption=a) for b, a in assumptions),
    )
