"""What a webhook event asks of the queue, and why a pull request cannot land: pure decisions."""

from __future__ import annotations

from typing import Any

import pytest

from sq.platform.github import PullRequest
from sq.service.github.commands import Action, MalformedEventError, decide
from sq.submitqueue.extension.changeprovider.github import pull_problem

HEAD = "a" * 40
REPO = {"full_name": "acme/web"}


def _pull_event(action: str, **extra: Any) -> dict[str, Any]:
    pull = {"number": 4, "head": {"sha": HEAD}, "base": {"ref": "main"}}
    return {"action": action, "pull_request": pull, "repository": REPO, **extra}


def _comment(body: str, *, on_pull: bool = True) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 4}
    if on_pull:
        issue["pull_request"] = {}
    return {
        "action": "created",
        "issue": issue,
        "comment": {"body": body, "user": {"login": "bob"}},
        "repository": REPO,
    }


def test_the_queues_label_lands_at_the_head_and_its_removal_cancels() -> None:
    land = decide("pull_request", _pull_event("labeled", label={"name": "sq-land"}), "sq-land")
    assert (land.action, land.number, land.sha, land.base_ref) == (Action.LAND, 4, HEAD, "main")
    assert land.actor is None
    other = decide("pull_request", _pull_event("labeled", label={"name": "bug"}), "sq-land")
    assert other.action is Action.IGNORE
    gone = decide("pull_request", _pull_event("unlabeled", label={"name": "sq-land"}), "sq-land")
    assert gone.action is Action.CANCEL


def test_new_commits_cancel_the_request_of_the_head_before_them() -> None:
    before = "b" * 40
    intent = decide("pull_request", _pull_event("synchronize", before=before), "sq-land")
    assert (intent.action, intent.sha) == (Action.CANCEL, before)
    assert "new commits" in intent.reason


@pytest.mark.parametrize(
    ("action", "word"), [("closed", "closed"), ("converted_to_draft", "draft")]
)
def test_closing_or_drafting_cancels_with_the_reason(action: str, word: str) -> None:
    intent = decide("pull_request", _pull_event(action), "sq-land")
    assert intent.action is Action.CANCEL
    assert word in intent.reason


def test_comment_commands_are_read_from_the_first_line_and_name_who_asked() -> None:
    land = decide("issue_comment", _comment("  /sq land  \nthanks"), "sq-land")
    assert (land.action, land.actor, land.sha) == (Action.LAND, "bob", None)
    cancel = decide("issue_comment", _comment("/sq cancel"), "sq-land")
    assert (cancel.action, cancel.actor) == (Action.CANCEL, "bob")
    assert decide("issue_comment", _comment("lgtm\n/sq land"), "sq-land").action is Action.IGNORE
    on_issue = decide("issue_comment", _comment("/sq land", on_pull=False), "sq-land")
    assert on_issue.action is Action.IGNORE


def test_a_payload_without_what_its_event_carries_is_malformed() -> None:
    with pytest.raises(MalformedEventError):
        decide("pull_request", {"action": "labeled", "repository": REPO}, "sq-land")
    with pytest.raises(MalformedEventError):
        decide("issue_comment", {**_comment("/sq land"), "comment": {"body": "/sq land"}}, "x")


def _pr(**fields: Any) -> PullRequest:
    values: dict[str, Any] = {
        "number": 4,
        "state": "open",
        "merged": False,
        "draft": False,
        "head_sha": HEAD,
        "base_ref": "main",
        "mergeable": True,
    }
    return PullRequest(**{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, ""),
        ({"mergeable": None}, ""),
        ({"state": "closed"}, "is closed"),
        ({"state": "closed", "merged": True}, "is already merged"),
        ({"draft": True}, "is a draft"),
        ({"base_ref": "release"}, "targets release, not main"),
        ({"head_sha": "c" * 40}, "has new commits"),
        ({"mergeable": False}, "conflicts with its base branch"),
    ],
)
def test_why_a_pull_request_cannot_land(fields: dict[str, Any], problem: str) -> None:
    found = pull_problem(_pr(**fields), target="refs/heads/main", pinned=HEAD)
    assert found.startswith(problem) if problem else found == ""
