"""Payloads on Stovepipe's topics (spec §2.0): each names one entity and its queue."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

from sq.platform import errs

PROCESS = "stovepipe_process"
BUILD = "stovepipe_build"
BUILDSIGNAL = "stovepipe_buildsignal"
RECORD = "stovepipe_record"
ANALYZE = "stovepipe_analyze"


class EntityMessage(BaseModel):
    """`id` is a request id on every topic but buildsignal, where it is a build id.

    `project` (phase 2, additive) scopes a `build` or `record` message to one project's build;
    empty is the request's own, whole-repository build.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    queue_name: str
    project: str = ""

    @property
    def key(self) -> str:
        """Partition key and message id of a request-keyed message: one per (request, scope)."""
        return f"{self.id}#{self.project}" if self.project else self.id


def decode(payload: object) -> EntityMessage:
    """The payload of a delivery; a malformed one is a user error (never retried)."""
    try:
        message = EntityMessage.model_validate(payload)
    except ValidationError as exc:
        raise errs.UserError(f"malformed payload: {exc.errors()[0]['msg']}") from exc
    if not message.id or not message.queue_name:
        raise errs.UserError("malformed payload: empty id or queue_name")
    return message
