"""A delivery: one message handed to a handler, and the one outcome the handler gives it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sq.platform.errs import Failure
from sq.platform.messagequeue.model import StoredMessage, SubscriptionConfig
from sq.platform.messagequeue.store import Fetched, Outcome, OutcomeKind
from sq.platform.messagequeue.values import positional

_outcome = positional(Outcome)


class AlreadyFinalizedError(RuntimeError):
    """A delivery was acked, nacked, postponed or rejected twice."""


class Delivery:
    """What a handler gets. Exactly one of ack / nack / postpone / reject finalizes it.

    Outcomes are recorded here and written by the partition worker in its next transaction, so a
    handler never waits on storage. A delivery left unfinalized stays in flight until its
    visibility timeout lapses, then comes back with the next attempt number.
    """

    __slots__ = (
        "_config",
        "_extend",
        "_fetched",
        "_finalized",
        "_hold_ms",
        "_now",
        "_record",
        "received_at_ms",
    )

    def __init__(
        self,
        fetched: Fetched,
        config: SubscriptionConfig,
        now: Callable[[], int],
        record: Callable[[Outcome], None],
        extend: Callable[[int, int], Any],
    ) -> None:
        self._fetched = fetched
        self._config = config
        self._now = now
        self._record = record
        self._extend = extend
        self._finalized = False
        self._hold_ms: int | None = None
        self.received_at_ms = now()

    @property
    def message(self) -> StoredMessage:
        return self._fetched.message

    @property
    def attempt(self) -> int:
        """1-based; back to 1 after a hold."""
        return self._fetched.attempt

    @property
    def redelivered(self) -> bool:
        """Handed out before: after a retry, a hold, or a visibility timeout that lapsed."""
        return self._fetched.previous_retry_count is not None

    @property
    def delivery_id(self) -> str:
        m = self._fetched.message
        return f"{m.topic}/{m.partition_key}/{m.seq}"

    @property
    def partition_key(self) -> str:
        return self._fetched.message.partition_key

    @property
    def message_id(self) -> str:
        return self._fetched.message.message_id

    @property
    def metadata(self) -> Mapping[str, str]:
        m = self._fetched.message
        meta = dict(m.metadata)
        meta.update(topic=m.topic, partition_key=m.partition_key, seq=str(m.seq))
        if m.failed_at_ms:
            meta.update(
                {
                    "dlq.failed_at": str(m.failed_at_ms),
                    "dlq.failure_count": str(m.failure_count),
                    "dlq.last_error": m.last_error,
                    "dlq.original_topic": m.original_topic,
                    "dlq.consumer_group": m.failed_group,
                }
            )
        return meta

    @property
    def failure(self) -> Failure | None:
        """Why a dead letter failed; None on ordinary deliveries."""
        return self._fetched.message.failure

    def json(self) -> Any:
        return json.loads(self._fetched.message.payload)

    @property
    def finalized(self) -> bool:
        return self._finalized

    # --- intent recorded by handlers -------------------------------------------------------------

    def hold(self, delay_seconds: float) -> None:
        """Ask to see this message again after the delay, as a barrier for its partition.

        Honoured only when the handler succeeds; a later call replaces an earlier one.
        """
        self._hold_ms = max(0, round(delay_seconds * 1000))

    @property
    def hold_ms(self) -> int | None:
        return self._hold_ms

    def clear_hold(self) -> None:
        """Forget a `hold` asked for (a window that failed is handled again one by one)."""
        self._hold_ms = None

    async def extend_visibility(self, seconds: float) -> bool:
        """Keep this delivery in flight for `seconds` from now (not added to the old deadline)."""
        if self._finalized:
            raise AlreadyFinalizedError(f"delivery {self.delivery_id} is already finalized")
        result = await self._extend(self._fetched.message.seq, self._now() + round(seconds * 1000))
        return bool(result)

    # --- finalizers ------------------------------------------------------------------------------

    def _finalize(self, outcome: Outcome) -> None:
        if self._finalized:
            raise AlreadyFinalizedError(f"delivery {self.delivery_id} is already finalized")
        self._finalized = True
        self._record(outcome)

    def ack(self) -> None:
        # The most frequent outcome by far: built without Outcome's keyword constructor.
        self._finalize(_outcome(self._fetched.message.seq, OutcomeKind.ACK, 0, None, 0, None))

    @property
    def nack_dead_letters(self) -> bool:
        """A `nack` now would dead-letter the message: this was its last attempt."""
        return self.attempt >= self._config.retry.max_attempts and self._config.dead_letter

    def nack(self, failure: Failure, *, not_before_ms: int | None = None) -> None:
        """Retry after backoff, or dead-letter with this failure when attempts are spent.

        `not_before_ms` is a dependency's own hint (a rate limit's `Retry-After`): the retry
        waits at least that long, even when the backoff would be shorter."""
        retry = self._config.retry
        if self.attempt >= retry.max_attempts:
            self._give_up(failure)
            return
        until = self._now() + max(retry.backoff_ms(self.attempt), not_before_ms or 0)
        self._finalize(Outcome(seq=self.message.seq, kind=OutcomeKind.RETRY, until_ms=until))

    def postpone(self, delay_ms: int) -> None:
        until = self._now() + max(0, delay_ms)
        self._finalize(Outcome(seq=self.message.seq, kind=OutcomeKind.POSTPONE, until_ms=until))

    def reject(self, failure: Failure) -> None:
        """Dead-letter now (or drop, for a reader with no DLQ)."""
        self._give_up(failure)

    def _give_up(self, failure: Failure) -> None:
        if not self._config.dead_letter:
            self._finalize(Outcome(seq=self.message.seq, kind=OutcomeKind.ACK))
            return
        self._finalize(
            Outcome(
                seq=self.message.seq,
                kind=OutcomeKind.DEAD_LETTER,
                failure=failure,
                failure_count=self.attempt,
            )
        )

    def hand_back(self) -> Outcome:
        """Undo a delivery that never reached its handler (graceful stop)."""
        self._finalized = True
        return Outcome(
            seq=self.message.seq,
            kind=OutcomeKind.HAND_BACK,
            previous_retry_count=self._fetched.previous_retry_count,
        )
