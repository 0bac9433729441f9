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
