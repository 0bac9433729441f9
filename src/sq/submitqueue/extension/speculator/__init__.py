"""The Speculator seam: which futures of the queue to build next (speculation-spec §4-5)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sq.submitqueue.entity.proposal import Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot


class SpeculatorError(Exception):
    """The Speculator could not produce a plan (corrupt input, a failing ranking).

    The speculate run treats it as transient: it aborts and the next signal re-plans.
    """


class Speculator(Protocol):
    """Proposes build and cancel actions on paths, given one snapshot of the queue.

    Contract:
    - Input is one frozen snapshot: every batch the run knows (heads are those `speculating`;
      every other batch is a fact) and the path sets of every in-flight head, including heads
      that are merging or cancelling, whose builds still occupy CI.
    - Output is an ordered list of proposals, best first. It never decides outcomes (merge and
      fail belong to the controller), and every proposal is checked by the controller, which may
      reject it; a rejection is never an error.
    - Pure with respect to the snapshot: the same snapshot and the same scores give the same
      proposals. It may block (scorers read storage); call it from a worker thread.
    - Raises `SpeculatorError` (or a scorer's error chained in one) when it cannot plan; it must
      not return a partial plan in that case.
    """

    def speculate(self, snapshot: SpeculationSnapshot) -> Sequence[Speculation]: ...
