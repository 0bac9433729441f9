"""Runway's published contract: what SubmitQueue asks it to check or land, and what it answers
(submitqueue-spec §1.3). Topic keys: MergeRequest on `merge-conflict-check` and `runway-merge`;
MergeResult on `merge-conflict-check-signal` and `merge-signal`."""

from __future__ import annotations

import enum

from sq.api.base import Payload

TOPIC_MERGE_CONFLICT_CHECK = "merge-conflict-check"
TOPIC_MERGE_CONFLICT_CHECK_SIGNAL = "merge-conflict-check-signal"
TOPIC_RUNWAY_MERGE = "runway-merge"
TOPIC_MERGE_SIGNAL = "merge-signal"


class StepStrategy(enum.StrEnum):
    DEFAULT = "default"
    REBASE = "rebase"
    SQUASH_REBASE = "squash-rebase"
    MERGE = "merge"


class LandingCheck(enum.StrEnum):
    """How runway compares a landing with its build (doc/speculation.md, "Exact trees and
    independent lanes")."""

    EXACT = "exact"
    """The target is `base` plus exactly the `assumed` landings: every landed tree was built."""
    DISJOINT = "disjoint"
    """Every `assumed` change is on the target, and the landed tree differs from the built one
    only on paths the batch did not change and the target did since `base` (other lanes'
    landings)."""


class Change(Payload):
    uris: tuple[str, ...]


class MergeStep(Payload):
    step_id: str
    change: Change
    strategy: StepStrategy = StepStrategy.DEFAULT


class MergeRequest(Payload):
    """An ordered application: in-flight changes first, the candidate last."""

    id: str
    queue_name: str
    steps: tuple[MergeStep, ...]
    base: str = ""
    """A landing: the target commit its passing build was made on. When set, runway lands only
    when the target passes `landing_check` against it (with `exact`: the target is `base`, or
    `base` plus exactly the landings of `assumed`); otherwise it answers `outdated`. Empty: land
    on whatever the target is (a conflict check, a fake build)."""
    assumed: tuple[MergeStep, ...] = ()
    """The queue's own changes the build applied on `base` before `steps`, in order."""
    landing_check: LandingCheck = LandingCheck.EXACT
    """The queue's `landing` setting; absent (an older producer) means `exact`."""
    landing: str = ""
    """Which landing of `id` this is (a batch may land again after an `outdated` answer); echoed
    in the answer and part of its message id."""


class Outcome(enum.StrEnum):
    UNSPECIFIED = "unspecified"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StepOutput(Payload):
    id: str


class StepResult(Payload):
    step_id: str
    outputs: tuple[StepOutput, ...] = ()
    reason: str = ""


class MergeResult(Payload):
    id: str
    queue_name: str
    outcome: Outcome
    reason: str = ""
    steps: tuple[StepResult, ...] = ()
    outdated: bool = False
    """With `FAILED`: the target is no longer what the build was made on; build again on it."""
    landing: str = ""


def answer_id(request: MergeRequest) -> str:
    """The message id of runway's answer: one per landing, so a second landing is not deduped."""
    return f"{request.id}/{request.landing}" if request.landing else request.id
