"""Folds request-log entries into request summaries (submitqueue-spec §3.6).

Every entry is appended to the history (once per key); the summary then takes the entry's status if
it wins under `status.precedence`. Because precedence is a total order, any arrival order of the
same entries, with any duplicates, leaves the same summary.
"""

from __future__ import annotations

import dataclasses

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
        """Record `entry` and return the summary after it; idempotent per entry key.

        Raises UnknownRequestError when no receipt exists (the entry stays in the history),
        VersionMismatchError when concurrent writers kept winning the compare-and-swap.
        """
        self.store.append_log(entry)
        for _ in range(CAS_ATTEMPTS):
            current = self.store.get_summary(entry.queue, entry.request_id)
            if current is None:
                raise UnknownRequestError(f"no request {entry.request_id} in queue {entry.queue}")
            if current.wins_over(entry):
                return current
            updated = dataclasses.replace(
                current,
                status=entry.status,
                request_version=entry.request_version,
                status_timestamp_ms=entry.timestamp_ms,
                last_error=entry.last_error,
                metadata=dict(entry.metadata),
                version=current.version + 1,
            )
            try:
                self.store.update_summary(updated, expected_version=current.version)
            except VersionMismatchError:
                continue
            return updated
        raise VersionMismatchError(f"summary of {entry.request_id}: too many concurrent writers")
