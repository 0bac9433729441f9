"""Requests: one change (a stack of URIs) asked to land on a queue (submitqueue-spec §3.1)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sq.submitqueue.entity.batch import Priority, RequestID


class RequestState(enum.StrEnum):
    STARTED = "started"
    VALIDATED = "validated"
    BATCHED = "batched"
    LANDED = "landed"
    ERROR = "error"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


TERMINAL_REQUEST_STATES = frozenset(
    {RequestState.LANDED, RequestState.ERROR, RequestState.CANCELLED}
)


def is_request_terminal(state: RequestState) -> bool:
    return state in TERMINAL_REQUEST_STATES


def is_request_halted(state: RequestState) -> bool:
    """Terminal or cancelling: forward stages leave the request alone."""
    return state in TERMINAL_REQUEST_STATES or state is RequestState.CANCELLING


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    id: RequestID
    queue: str
    uris: tuple[str, ...]
    strategy: str = ""
    state: RequestState = RequestState.STARTED
    version: int = 1
    priority: Priority = Priority.NORMAL


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangedFile:
    path: str
    lines_added: int = 0
    lines_deleted: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeInfo:
    """What a change provider knows about one URI: who wrote it, what it touches, its commits."""

    uri: str
    author: str = ""
    files: tuple[ChangedFile, ...] = ()
    commits: tuple[str, ...] = field(default=())
    """The change's own commits, oldest first (empty for providers without history)."""

    @property
    def lines_changed(self) -> int:
        return sum(f.lines_added + f.lines_deleted for f in self.files)
