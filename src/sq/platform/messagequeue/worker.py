"""One task per leased partition: write outcomes, claim a window, run the handler on each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import structlog

from sq.platform.errs import DEFAULT_CLASSIFIERS, attribution, is_retryable, verdict_of
from sq.platform.messagequeue.delivery import Delivery
from sq.platform.messagequeue.model import LeaseLostError, dlq_topic
from sq.platform.messagequeue.store import Fence, Fetched, FetchSpec, Outcome

if TYPE_CHECKING:
    from sq.platform.messagequeue.subscriber import Subscription

Handler = Callable[[Delivery], Awaitable[None]]
WindowHandler = Callable[[Sequence[Delivery]], Awaitable[None]]
"""Handles a window of one partition's deliveries (two or more, in partition order) in one call,
and finalizes each of them as `Handler` does one."""
TRANSIENT_FIRST_WAIT_S = 0.05
TRANSIENT_MAX_WAIT_S = 5.0
"""A cycle that failed with a transient error is tried again after 0.05 s, doubling up to 5 s."""
IDLE_BACKOFF_FACTOR = 2
"""An idle worker's backstop poll doubles after each empty cycle, from the poll interval up to
the lease duration: its supervisor's discovery wakes it when its partition has work again. A
delivery does not restart it: a partition with work is woken by its publishes, and one that gets
a message now and then (a request's `log` partition, for the minutes the request waits at depth)
would otherwise poll again and again from the shortest interval after each one."""
log = structlog.get_logger("sq.mq")


class PartitionWorker:
    def __init__(self, subscription: Subscription, fence: Fence) -> None:
        self.sub = subscription
        self.fence = fence
        self.pending: list[Outcome] = []
        self.lost = False
        self.release_on_exit = False
        self.sleeping = False
        self.handling = False
        """A handler of this partition is running (its delivery may not show in discovery)."""
        self.parked = False
        """Waiting with nothing due: only a wake-up (or the backstop poll) brings it back."""
        self.delivered = False
        """Handed out a delivery since the supervisor last looked (`take_delivered`)."""
        self._idle_wait_ms = subscription.config.poll_interval_ms
        self._sleeper: asyncio.Future[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        config = subscription.config
        self._fetch = FetchSpec(
            batch_size=config.batch_size,
            visibility_timeout_ms=config.visibility_timeout_ms,
            max_attempts=config.retry.max_attempts,
            dead_letter=config.dead_letter,
        )
        self.task: asyncio.Task[None] | None = None

    @property
    def partition_key(self) -> str:
        return self.fence.partition_key

    def start(self) -> None:
        self.task = asyncio.create_task(
            self._run(), name=f"mq:{self.fence.topic}:{self.partition_key}"
        )

    def wake(self) -> None:
        self._wake.set()

    def nudge(self) -> None:
        """Discovery saw work in this partition: wake the worker if it is parked. One waiting
        for a due time (a retry, a postponed barrier) already comes back when it is due."""
        if self.parked:
            self._wake.set()

    def record(self, outcome: Outcome) -> None:
        self.pending.append(outcome)
        self._wake.set()

    def begin_stop(self) -> None:
        """From now on, start no new delivery."""
        self._stopping = True
        self._wake.set()

    async def stop(self) -> None:
        """Finish the delivery under way, hand the rest back, write every outcome, end."""
        self.begin_stop()
        if self.task is not None:
            await asyncio.shield(self.task)

    async def _run(self) -> None:
        sub = self.sub
        structlog.contextvars.bind_contextvars(
            topic=self.fence.topic, partition=self.partition_key, group=self.fence.consumer_group
        )
        backoff = TRANSIENT_FIRST_WAIT_S
        try:
            while not self._stopping:
                try:
                    await self._cycle(fetch=True)
                except LeaseLostError:
                    raise
                except Exception as exc:
                    if not is_retryable(verdict_of(exc, DEFAULT_CLASSIFIERS)):
                        raise
                    # A dropped connection, a restarting server, a busy SQLite file: the outcomes
                    # are kept and written by the next cycle. The fence still guards every write,
                    # so a lease lost meanwhile ends this worker at its next cycle.
                    log.warning("partition cycle failed; retrying", error=str(exc), wait_s=backoff)
                    await self._wait(backoff)
                    backoff = min(backoff * 2, TRANSIENT_MAX_WAIT_S)
                    continue
                backoff = TRANSIENT_FIRST_WAIT_S
                # A store call may finish without yielding (SQLite runs it on the loop), and so
                # may handlers: let the other partitions and the lease ticks run between cycles.
                await asyncio.sleep(0)
        except LeaseLostError as exc:
            self.lost = True
            log.warning("lease lost", reason=str(exc))
        except Exception:
            log.exception("partition worker failed; the lease will lapse and be taken over")
            self.lost = True
        finally:
            if not self.lost:
                with contextlib.suppress(LeaseLostError):
                    await self._flush()
                if self.release_on_exit:
                    with contextlib.suppress(Exception):
                        await sub.store_call(sub.store.release, self.fence)
            sub.worker_ended(self)

    async def _cycle(self, *, fetch: bool) -> None:
        sub = self.sub
        outcomes, self.pending = self.pending, []
        self._wake.clear()
        try:
            result = await sub.store_call(
                sub.store.cycle,
                self.fence,
                outcomes,
                self._fetch if fetch else None,
                sub.clock.now_ms(),
            )
        except BaseException:
            self.pending[:0] = outcomes  # not written: the transaction rolled back
            raise
        if result.dead_lettered:
            sub.waker.notify(dlq_topic(self.fence.topic), self.partition_key)
        sub.signal("poll", self.partition_key)
        if result.deliveries:
            self.delivered = True
            # A stop asked for during the fetch hands the whole window back (below), as it
            # hands back what one-at-a-time handling has not started.
            windowed = sub.window_handler is not None and len(result.deliveries) > 1
            if windowed and not self._stopping:
                await self._handle_window([self._delivery(f) for f in result.deliveries])
                return
            for index, fetched in enumerate(result.deliveries):
                if self._stopping:
                    self.pending.extend(
                        self._delivery(f).hand_back() for f in result.deliveries[index:]
                    )
                    break
                delivery = self._delivery(fetched)
                self.handling = True
                try:
                    await sub.handler(delivery)
                except Exception as exc:
                    log.exception(
                        "handler raised; the delivery will be retried",
                        message_id=delivery.message_id,
                    )
                    if not delivery.finalized:
                        delivery.nack(attribution(exc))
                finally:
                    self.handling = False
            return
        if not fetch:  # a final flush: it writes and never waits
            return
        if self._stopping or self.pending:
            return
        config = sub.config
        if result.next_due_ms is not None:
            # A due time already passed (the clock moved during the cycle): go round again.
            wait_ms = min(config.poll_interval_ms, result.next_due_ms - sub.clock.now_ms())
            if wait_ms > 0:
                await self._wait(wait_ms / 1000)
            return
        # Nothing waiting: park. A publish in this process, a notification naming the partition,
        # or discovery finding work here wakes it; the poll is only a backstop, and an idle
        # partition's backstop grows so that thousands of drained partitions (one per request at
        # depth) do not each cost a transaction per poll interval.
        wait_ms = self._idle_wait_ms
        self._idle_wait_ms = min(wait_ms * IDLE_BACKOFF_FACTOR, config.lease_duration_ms)
        self.parked = True
        try:
            await self._wait(wait_ms / 1000)
        finally:
            self.parked = False

    async def _handle_window(self, deliveries: list[Delivery]) -> None:
        assert self.sub.window_handler is not None
        self.handling = True
        try:
            await self.sub.window_handler(deliveries)
        except Exception as exc:
            log.exception("window handler raised; its deliveries will be retried")
            for delivery in deliveries:
                if not delivery.finalized:
                    delivery.nack(attribution(exc))
        finally:
            self.handling = False

    def _delivery(self, fetched: Fetched) -> Delivery:
        return Delivery(fetched, self.sub.config, self.sub.clock.now_ms, self.record, self._extend)

    async def _extend(self, seq: int, until_ms: int) -> bool:
        return bool(await self.sub.store_call(self.sub.store.extend, self.fence, seq, until_ms))

    async def _flush(self) -> None:
        if self.pending:
            await self._cycle(fetch=False)

    def take_delivered(self) -> bool:
        """Whether it handed out a delivery since the last call: its partition had work, though
        a discovery between two deliveries (woken in process) found none waiting."""
        delivered, self.delivered = self.delivered, False
        return delivered

    @property
    def idle(self) -> bool:
        """Waiting for work with nothing to write: what `settle()` in tests waits for."""
        woken = self._sleeper is not None and self._sleeper.done()
        return self.sleeping and not woken and not self.pending and not self._wake.is_set()

    async def _wait(self, seconds: float) -> None:
        self.sleeping = True
        waiter = asyncio.create_task(self._wake.wait())
        sleeper = self._sleeper = asyncio.ensure_future(self.sub.clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.sleeping = False
            waiter.cancel()
            sleeper.cancel()
