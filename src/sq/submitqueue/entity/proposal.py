"""What a Speculator produces: ranked candidates and proposed actions (speculation-spec §1.8)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sq.submitqueue.entity.path import SpeculationPath


class PathAction(enum.StrEnum):
    UNKNOWN = ""  # never valid; the proposal filter rejects it
    BUILD = "build"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True, kw_only=True)
class CandidatePath:
    """A path with its ranking score: the natural log of the probability that every one of its
    unresolved assumptions holds. Only comparable within one run; never stored."""

    path: SpeculationPath
    ranking_score: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Speculation:
    """One proposed action on one path. Verdicts (merge, fail) are never proposals.

    `ranking_score` is the candidate's score when the proposal came from a ranking, for reporting
    only; it plays no part in checking or applying the proposal.
    """

    path: SpeculationPath
    action: PathAction
    ranking_score: float | None = None
