"""The gateway's entities: request-log entries, request summaries and list pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sq.submitqueue.gateway.status import RequestStatus, precedence

EntryType = Literal["status", "event"]
MAX_BIGINT = 2**63 - 1
"""The largest timestamp or number the tables can hold; larger input is refused, not stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """One row of a request's history (§3.3). `key` names its occasion and dedups redeliveries."""

    queue: str
    request_id: str
    key: str
    timestamp_ms: int
    type: EntryType = "status"
    status: str = ""
    event: str = ""
    request_version: int = 0
    last_error: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """The authoritative current state of one request (§3.4); `version` is the CAS version."""

    queue: str
    request_id: str
    number: int
    change_uris: tuple[str, ...]
    land_strategy: str
    received_at_ms: int
    status: str
    request_version: int
    status_timestamp_ms: int
    last_error: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def visible(self) -> bool:
        """A receipt whose start message may not have been published is not shown to readers."""
        return self.status != RequestStatus.ACCEPTING

    def wins_over(self, entry: LogEntry) -> bool:
        """True when the summary's status stays in front of `entry` (events never win)."""
        if entry.type != "status":
            return True
        mine = precedence(self.status, self.request_version, self.status_timestamp_ms)
        return mine >= precedence(entry.status, entry.request_version, entry.timestamp_ms)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cursor:
    """Where a list page ended: the last row's receipt time and request number."""

    received_at_ms: int
    number: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    summaries: tuple[Summary, ...]
    next_cursor: Cursor | None


def request_id(queue: str, number: int) -> str:
    return f"{queue}/{number}"


def split_request_id(value: str) -> tuple[str, int] | None:
    """`("demo", 7)` for `"demo/7"`; None when it is not a request id."""
    queue, sep, number = value.rpartition("/")
    if not sep or not queue or not (number.isascii() and number.isdigit()) or number[0] == "0":
        return None
    return queue, int(number)
