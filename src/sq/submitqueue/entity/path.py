"""Speculation paths: one possible future of a head, and its stable id (spec §1.3-1.4)."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
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
    _split: AssumedSplit | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def id(self) -> PathID:
        return path_id(self)

    def base(self) -> tuple[BatchID, ...]:
        """The dependencies the build is stacked on (assumed to succeed), in path order."""
        return tuple(d.batch for d in self.dependencies if d.assumption is Assumption.SUCCEEDS)

    def split(self) -> AssumedSplit:
        """The dependencies by assumption, as sets; computed once per path object (a run asks
        for every path of every head, and a read keeps unchanged path sets across runs)."""
        split = self._split
        if split is None:
            succeeds = {d.batch for d in self.dependencies if d.assumption is Assumption.SUCCEEDS}
            fails = {d.batch for d in self.dependencies if d.assumption is Assumption.FAILS}
            split = AssumedSplit(
                succeeds=frozenset(succeeds),
                fails=frozenset(fails),
                undecided=any(d.assumption not in _DECIDED for d in self.dependencies),
            )
            object.__setattr__(self, "_split", split)
        return split


@dataclass(frozen=True, slots=True, kw_only=True)
class AssumedSplit:
    """A path's dependencies by assumption (`SpeculationPath.split`)."""

    succeeds: frozenset[BatchID]
    fails: frozenset[BatchID]
    undecided: bool
    """Some dependency carries `Assumption.UNKNOWN` (a malformed path): it never comes true."""


_DECIDED = frozenset({Assumption.SUCCEEDS, Assumption.FAILS})


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
