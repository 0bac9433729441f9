"""What a GitHub webhook asks of the queue: land a pull request, cancel it, or nothing.

Pure: reads the event name and payload and returns an `Intent`; acting on it (who may, which
queue, which request) is `webhook.py`'s job.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LAND_COMMAND = "/sq land"
CANCEL_COMMAND = "/sq cancel"


class Action(enum.StrEnum):
    LAND = "land"
    CANCEL = "cancel"
    PING = "ping"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    action: Action
    number: int = 0
    sha: str | None = None
    """The pull request's head (for a cancel: the head that was queued); None when the event
    does not say and the pull request must be read."""
    base_ref: str | None = None
    actor: str | None = None
    """Who asked by comment (their permission is checked); None for label and push events,
    which GitHub only lets people with triage access or the author cause."""
    reason: str = ""


class MalformedEventError(ValueError):
    """The payload lacks what its event type always carries."""


def decide(event: str, payload: Mapping[str, Any], label: str) -> Intent:
    if event == "ping":
        return Intent(action=Action.PING)
    if event == "pull_request":
        return _pull_request(payload, label)
    if event == "issue_comment":
        return _comment(payload)
    return Intent(action=Action.IGNORE, reason=f"event {event!r} is not used")


def _pull_request(payload: Mapping[str, Any], label: str) -> Intent:
    action = payload.get("action")
    pull = _mapping(payload, "pull_request")
    number = _number(pull)
    head = _mapping(pull, "head").get("sha")
    base = _mapping(pull, "base").get("ref")
    sha = head if isinstance(head, str) else None
    named = _mapping(payload, "label").get("name") if "label" in payload else None
    if action == "labeled" and named == label:
        return Intent(
            action=Action.LAND,
            number=number,
            sha=sha,
            base_ref=base if isinstance(base, str) else None,
        )
    if action == "unlabeled" and named == label:
        return Intent(
            action=Action.CANCEL, number=number, sha=sha, reason=f"the {label} label was removed"
        )
    if action == "synchronize":
        before = payload.get("before")
        return Intent(
            action=Action.CANCEL,
            number=number,
            sha=before if isinstance(before, str) else None,
            reason="new commits were pushed to the pull request",
        )
    if action == "closed":
        return Intent(
            action=Action.CANCEL, number=number, sha=sha, reason="the pull request was closed"
        )
    if action == "converted_to_draft":
        return Intent(
            action=Action.CANCEL, number=number, sha=sha, reason="the pull request became a draft"
        )
    return Intent(action=Action.IGNORE, reason=f"pull_request {action} is not used")


def _comment(payload: Mapping[str, Any]) -> Intent:
    if payload.get("action") != "created":
        return Intent(action=Action.IGNORE, reason="only new comments are read")
    issue = _mapping(payload, "issue")
    if "pull_request" not in issue:
        return Intent(action=Action.IGNORE, reason="a comment on an issue, not a pull request")
    comment = _mapping(payload, "comment")
    body = comment.get("body")
    first = body.strip().splitlines()[0].strip() if isinstance(body, str) and body.strip() else ""
    actor = _mapping(comment, "user").get("login")
    if not isinstance(actor, str) or not actor:
        raise MalformedEventError("comment.user.login is missing")
    if first == LAND_COMMAND:
        return Intent(action=Action.LAND, number=_number(issue), actor=actor)
    if first == CANCEL_COMMAND:
        return Intent(
            action=Action.CANCEL,
            number=_number(issue),
            actor=actor,
            reason=f"{actor} asked: {CANCEL_COMMAND}",
        )
    return Intent(action=Action.IGNORE, reason="the comment holds no /sq command")


def _mapping(payload: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = payload.get(key)
    if not isinstance(value, Mapping):
        raise MalformedEventError(f"{key} is missing or not an object")
    return value


def _number(item: Mapping[str, Any]) -> int:
    number = item.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise MalformedEventError("number is missing or not a positive integer")
    return number
