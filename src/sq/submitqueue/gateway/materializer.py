"""Folds request-log entries into request summaries (submitqueue-spec §3.6).

Every entry is appended to the history (once per key); the summary then takes the entry's status if
it wins under `status.precedence`. Because precedence is a total order, any arrival order of the
same entries, with any duplicates, leaves the same summary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sq.platform.errs import UserError, VersionMismatchError
from sq.submitqueue.gateway.model import LogEntry, Summary
from sq.submitqueue.gateway.storage import RequestLogStore

CAS_ATTEMPTS = 8


class UnknownRequestError(UserError):
    """A log entry names a request the gateway never received."""


class Materializer:
    def __init__(self, store: RequestLogStore) -> None:
        self.store = store

    def persist(self, entry: LogEntry) -> Summary:
        """Record `entry` and return the summary after it; idempotent per entry key. One
        transaction: the history row, the summary read and, if the entry wins, its update.

        Raises UnknownRequestError when no receipt exists (the entry stays in the history),
        VersionMismatchError when concurrent writers kept winning the compare-and-swap.
        """
        return self.persist_all([entry])

    def persist_all(self, entries: Sequence[LogEntry]) -> Summary:
        """`persist` of several entries of one request, in order, in one transaction: the
        history and the summary end as they would after persisting each in turn."""
        for attempt in range(CAS_ATTEMPTS):
            try:
                summary = self.store.fold_all(entries, _folded)
                break
            except VersionMismatchError:
                if attempt == CAS_ATTEMPTS - 1:
                    raise
        if summary is None:
            first = entries[0]
            raise UnknownRequestError(f"no request {first.request_id} in queue {first.queue}")
        return summary

    def persist_many(self, entries: Sequence[LogEntry]) -> dict[tuple[str, str], Summary]:
        """`persist_all` of the entries of several requests, each request's in order, in one
        transaction (a window of the `log` topic): the histories and summaries end as they would
        after persisting each entry in turn. Returns each request's summary, by
        `(queue, request_id)`.

        Raises UnknownRequestError, after the transaction, when any entry names a request with
        no receipt (every entry stays in the history, every known summary is folded).
        """
        for attempt in range(CAS_ATTEMPTS):
            try:
                summaries = self.store.fold_many(entries, _folded)
                break
            except VersionMismatchError:
                if attempt == CAS_ATTEMPTS - 1:
                    raise
        for entry in entries:
            if (entry.queue, entry.request_id) not in summaries:
                raise UnknownRequestError(f"no request {entry.request_id} in queue {entry.queue}")
        return summaries


def _folded(current: Summary, entry: LogEntry) -> Summary | None:
    if current.wins_over(entry):
        return None
    return dataclasses.replace(
        current,
        status=entry.status,
        request_version=entry.request_version,
        status_timestamp_ms=entry.timestamp_ms,
        last_error=entry.last_error,
        metadata=dict(entry.metadata),
        version=current.version + 1,
    )
