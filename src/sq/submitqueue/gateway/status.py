"""Request statuses and events as the request log records them (submitqueue-spec §3.2).

The orchestrator publishes `RequestLog` entries naming these values to the `log` topic; the gateway
writes `accepted` and `cancelling` itself. `accepting` is the gateway's hidden receipt and is never
a log entry.
"""

from __future__ import annotations

import enum


class RequestStatus(enum.StrEnum):
    ACCEPTING = "accepting"
    ACCEPTED = "accepted"
    STARTED = "started"
    VALIDATING = "validating"
    VALIDATED = "validated"
    BATCHING = "batching"
    BATCHED = "batched"
    SPECULATING = "speculating"
    SPECULATED = "speculated"
    LANDING = "landing"
    CANCELLING = "cancelling"
    LANDED = "landed"
    ERROR = "error"
    CANCELLED = "cancelled"


class RequestEvent(enum.StrEnum):
    BUILDING = "building"
    BUILT = "built"
    WAITING = "waiting"
    INVALIDATED = "invalidated"


TERMINAL = frozenset({RequestStatus.LANDED, RequestStatus.ERROR, RequestStatus.CANCELLED})

# Lifecycle position; only breaks exact timestamp ties, so that every arrival order converges.
_RANK: dict[str, int] = {status.value: rank for rank, status in enumerate(RequestStatus)}


def is_terminal(status: str) -> bool:
    return status in TERMINAL


Precedence = tuple[int, int, int, int, str]


def precedence(status: str, request_version: int, timestamp_ms: int) -> Precedence:
    """A total order on status entries; the summary's status is the greatest seen (§3.5).

    Tiers: the hidden receipt < `accepted` < any in-flight status, by time < `cancelling` or an
    unversioned terminal status, by time < a terminal status the orchestrator wrote under a
    request version, by version then time. Ties on time go to the later lifecycle stage, then to
    the text, so no arrival order or duplicate changes the winner.

    Unlike the reference, `cancelling` outranks in-flight statuses: a cancel that overtakes the
    orchestrator's `started` stays visible until the request settles.
    """
    if status == RequestStatus.ACCEPTING:
        return (0, 0, 0, 0, "")
    if status == RequestStatus.ACCEPTED:
        return (1, 0, timestamp_ms, 0, "")
    rank = _RANK.get(status, -1)
    if is_terminal(status) and request_version > 0:
        return (4, request_version, timestamp_ms, rank, status)
    if is_terminal(status) or status == RequestStatus.CANCELLING:
        return (3, 0, timestamp_ms, rank, status)
    return (2, 0, timestamp_ms, rank, status)
