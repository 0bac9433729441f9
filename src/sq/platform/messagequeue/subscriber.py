"""One supervisor per (topic, consumer group) in a process: owns leases and partition workers.

Discovery finds partitions with work past the group's watermark and takes free or stale leases up
to this subscriber's fair share; the lease tick sheds surplus, renews what it keeps, heartbeats and
purges stale rows; a partition drained for two lease durations is released (platform-spec §1.7).
Every `gc_interval_ms` (at least every discovery interval) it collects the passed messages of the
whole topic, released partitions included.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import structlog

from sq.platform.messagequeue import fairshare
from sq.platform.messagequeue.model import SubscriptionConfig
from sq.platform.messagequeue.store import Fence, QueueStore
from sq.platform.messagequeue.worker import Handler, PartitionWorker, WindowHandler

if TYPE_CHECKING:
    from sq.platform.clock import Clock
    from sq.platform.messagequeue.wakeup import Waker

P = ParamSpec("P")
T = TypeVar("T")
Signal = Callable[[str, str, str, str], None]
"""Test hook: (kind, topic, consumer group, partition key) after each poll ("poll") or
discovery/lease tick ("partitions", partition key "")."""

log = structlog.get_logger("sq.mq")
SWEEP_EVERY_LEASES = 2
PURGE_AFTER_LEASES = 10
DRAINED_GRACE_LEASES = 2
DISCOVERY_BACKOFF_MAX = 8
"""A full discovery that finds nothing new doubles the time to the next, up to this many
discovery intervals; anything found, or a wake-up that names no partition, resets it."""
ANYTHING_GAP_MS = 100
"""Wake-ups that name no partition start a full discovery at most this often."""


class Subscription:
    def __init__(
        self,
        *,
        store: QueueStore,
        clock: Clock,
        waker: Waker,
        topic: str,
        config: SubscriptionConfig,
        handler: Handler,
        window_handler: WindowHandler | None = None,
        subscriber_name: str,
        on_signal: Signal | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.waker = waker
        self.topic = topic
        self.config = config
        self.handler = handler
        self.window_handler = window_handler
        self.name = subscriber_name
        self._on_signal = on_signal
        self.workers: dict[str, PartitionWorker] = {}
        self._draining: dict[str, PartitionWorker] = {}
        self._discovered: list[str] = []
        self._drained_since: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._reschedule = asyncio.Event()
        self._named: set[str] = set()
        """Partitions a publish named that have no worker here: looked at without a discovery."""
        self._discovery_every_ms = config.discovery_interval_ms
        self._last_discovery_ms = 0
        self._next_discovery_ms = 0
        self._sleeping = False
        self._sleeper: asyncio.Future[None] | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._unlisten = waker.listen(topic, self._on_publish)
        self._unlisten_all = waker.listen_all(self._on_anything)

    @property
    def group(self) -> str:
        return self.config.consumer_group

    # --- plumbing --------------------------------------------------------------------------------

    async def store_call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.store.call(fn, *args, **kwargs)

    def signal(self, kind: str, partition_key: str) -> None:
        if self._on_signal is not None:
            self._on_signal(kind, self.topic, self.group, partition_key)

    def _on_publish(self, partition_key: str) -> None:
        worker = self.workers.get(partition_key)
        if worker is not None:
            worker.wake()
        else:
            self._named.add(partition_key)
            self._wake.set()

    def _on_anything(self) -> None:
        # Another process committed something (a wake-up that names no partition): a full
        # discovery finds the partitions with work and nudges their workers, rather than every
        # worker running a cycle. At most one per `ANYTHING_GAP_MS`.
        self._discovery_every_ms = self.config.discovery_interval_ms
        due = self._last_discovery_ms + min(ANYTHING_GAP_MS, self._discovery_every_ms)
        if due < self._next_discovery_ms:
            self._next_discovery_ms = due
            if self._sleeping:
                self._reschedule.set()

    def is_idle(self) -> bool:
        if self._task is None or self._task.done():
            return True
        woken = self._sleeper is not None and self._sleeper.done()
        return (
            self._sleeping
            and not woken
            and not self._wake.is_set()
            and all(w.idle for w in self.workers.values())
        )

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(
            self._run(), name=f"mq-supervisor:{self.topic}:{self.group}"
        )

    async def stop(self) -> None:
        """Stop every worker (each hands back what it has not started), release leases, leave."""
        self._stopping = True
        self._wake.set()
        for worker in [*self.workers.values(), *self._draining.values()]:
            worker.begin_stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._unlisten()
        self._unlisten_all()
        for worker in [*self.workers.values(), *self._draining.values()]:
            await self._stop_worker(worker, release=True)
        with contextlib.suppress(Exception):
            await self.store_call(self.store.deregister, self.group, self.topic, self.name)

    async def _run(self) -> None:
        structlog.contextvars.bind_contextvars(topic=self.topic, group=self.group)
        config = self.config
        now = self.clock.now_ms()
        next_lease_tick = now
        self._next_discovery_ms = now
        collect_every = max(config.gc_interval_ms, config.discovery_interval_ms)
        # A process starts its subscriptions together; without a phase of their own their lease
        # ticks and collections would all fall due at the same instant, every interval, and queue
        # up ahead of the stages' storage calls on the same threads (a stall of a second or more
        # every ten seconds on PostgreSQL). The second tick comes early by a fraction of an
        # interval that differs per subscription (renewing early is always safe).
        named = f"{self.group}/{self.topic}/{self.name}".encode()
        phase = int.from_bytes(hashlib.blake2b(named, digest_size=8).digest()) / 2**64
        first_lease_tick = True
        next_collection = now + round(collect_every * (1 - phase / 2))
        self._next_sweep = now + SWEEP_EVERY_LEASES * config.lease_duration_ms
        while not self._stopping:
            try:
                now = self.clock.now_ms()
                if now >= next_lease_tick:
                    await self._lease_tick()
                    interval = config.lease_renewal_interval_ms
                    if first_lease_tick:
                        interval = round(interval * (1 - phase / 2))
                        first_lease_tick = False
                    next_lease_tick = now + interval
                if now >= self._next_discovery_ms:
                    self._wake.clear()
                    self._named.clear()
                    self._last_discovery_ms = now
                    self._next_discovery_ms = now + config.discovery_interval_ms * 1000
                    found = await self._discovery_tick()
                    self._pace_discovery(found=found)
                elif self._wake.is_set():
                    self._wake.clear()
                    await self._take_named()
                if now >= next_collection:
                    next_collection = now + collect_every
                    await self._collect(now)
                self.signal("partitions", "")
            except Exception:
                log.warning("subscription tick failed; retrying next tick", exc_info=True)
            while not self._stopping:
                due = min(next_lease_tick, self._next_discovery_ms, next_collection)
                wait_ms = max(1, due - self.clock.now_ms())
                if not await self._wait(wait_ms / 1000):
                    break

    async def _wait(self, seconds: float) -> bool:
        """Sleep until woken or `seconds` pass; True if only the next due time moved earlier."""
        self._sleeping = True
        self._reschedule.clear()
        waiter = asyncio.create_task(self._wake.wait())
        moved = asyncio.create_task(self._reschedule.wait())
        sleeper = self._sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, moved, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            return moved.done() and not waiter.done() and not sleeper.done()
        finally:
            self._sleeping = False
            waiter.cancel()
            moved.cancel()
            sleeper.cancel()

    # --- ticks -----------------------------------------------------------------------------------

    async def _cap(self, extra: Iterable[str] = ()) -> int:
        now = self.clock.now_ms()
        active = await self.store_call(
            self.store.active_subscribers,
            self.group,
            self.topic,
            now - self.config.lease_duration_ms,
        )
        universe = set(self.workers) | set(self._discovered) | set(extra)
        return fairshare.fair_share_cap(self.name, active, len(universe))

    def _pace_discovery(self, *, found: bool) -> None:
        """Discovery is the backstop for work no wake-up named (a lost notification, a dead
        process's partitions): while it finds nothing, it need not cost a query every second
        in each of a process's subscriptions."""
        base = self.config.discovery_interval_ms
        longest = base * DISCOVERY_BACKOFF_MAX
        every = base if found else min(self._discovery_every_ms * 2, longest)
        self._discovery_every_ms = every
        self._next_discovery_ms = min(self._next_discovery_ms, self._last_discovery_ms + every)

    async def _take_named(self) -> None:
        """Lease the partitions that publishes named, without reading every partition with work:
        a publish to a new partition (one per request, head or build at depth) costs a lease
        claim, not a discovery. A partition it cannot take is left to the next discovery."""
        if any(k in self._draining for k in self._named):
            # Its worker hands back what arrived meanwhile: the next discovery takes it again.
            self._discovery_soon()
        keys = sorted(k for k in self._named if k not in self.workers and k not in self._draining)
        self._named.clear()
        if not keys:
            return
        now = self.clock.now_ms()
        cap = await self._cap(keys)
        pending = self._with_work([*self._discovered, *keys])
        stale_before = now - self.config.lease_duration_ms
        for key in keys:
            if (cap and fairshare.busy(self.workers, pending) >= cap) or not await self._acquire(
                key, now, stale_before
            ):
                self._discovery_soon()

    def _discovery_soon(self) -> None:
        self._discovery_every_ms = self.config.discovery_interval_ms
        self._next_discovery_ms = min(
            self._next_discovery_ms, self._last_discovery_ms + self._discovery_every_ms
        )

    async def _acquire(self, key: str, now: int, stale_before: int) -> bool:
        acquired = await self.store_call(
            self.store.try_acquire, self.group, self.topic, key, self.name, now, stale_before
        )
        if acquired is None:
            return False
        self._start_worker(
            Fence(
                consumer_group=self.group,
                topic=self.topic,
                partition_key=key,
                owner=self.name,
                epoch=acquired.epoch,
            )
        )
        return True

    async def _discovery_tick(self) -> bool:
        """Returns whether it found anything to do: a partition to take, or a parked worker's."""
        now = self.clock.now_ms()
        sweep = now >= self._next_sweep
        if sweep:
            self._next_sweep = now + SWEEP_EVERY_LEASES * self.config.lease_duration_ms
        discovered = await self.store_call(self.store.discover, self.group, self.topic)
        stale_before = now - self.config.lease_duration_ms
        found = False
        for key in discovered:
            worker = self.workers.get(key)
            if worker is not None and worker.parked:
                worker.nudge()
                found = True
        candidates = [k for k in discovered if k not in self.workers and k not in self._draining]
        # The fair share and the leases held by others matter only for a partition to take:
        # at depth nearly every discovered partition is already this subscriber's own.
        cap = 0 if sweep or not candidates else await self._cap()
        found = found or bool(candidates)
        held = {}
        if candidates:
            leased = await self.store_call(self.store.leases, self.group, self.topic, held=True)
            held = {lease.partition_key: lease for lease in leased}
        pending = self._with_work(discovered)
        for key in candidates:
            if cap and fairshare.busy(self.workers, pending) >= cap:
                break
            lease = held.get(key)
            if lease is not None and lease.owner and lease.renewed_at_ms >= stale_before:
                continue
            await self._acquire(key, now, stale_before)
        self._discovered = discovered
        # A partition that had a delivery since the last look is not drained: at depth a
        # request's partitions get a message now and then for minutes, each woken and handled
        # between two discoveries, and releasing them meanwhile costs a release, a takeover and
        # a worker whose backstop poll starts again from the shortest interval.
        delivered = {key for key, worker in self.workers.items() if worker.take_delivered()}
        self._drained_since = fairshare.track_drained(
            self._drained_since, list(self.workers), set(discovered) | delivered, now
        )
        grace = DRAINED_GRACE_LEASES * self.config.lease_duration_ms
        for key in fairshare.expired(self._drained_since, grace, now):
            # Shed, not stopped here: the worker may be in a cycle at this very moment (with a
            # fake clock it always is, as both wake at the same instant), and a message that
            # arrived meanwhile is handed back and makes the partition pending again.
            worker = self.workers.get(key)
            if worker is not None:
                self._shed(worker)
            self._drained_since.pop(key, None)
        return found

    async def _collect(self, now: int) -> None:
        """Collect passed messages of the whole topic, here rather than in each worker: a
        drained partition's worker is released long before its last messages are older than the
        retention, and a partition used once would keep them for ever."""
        try:
            await self.store_call(self.store.gc_topic, self.topic, now - self.config.retention_ms)
        except Exception:
            log.warning("garbage collection failed", exc_info=True)

    async def _lease_tick(self) -> None:
        # Nothing here waits for a handler: a tick that did would stop renewing every other lease.
        now = self.clock.now_ms()
        cap = await self._cap()
        for key in fairshare.surplus(self.workers, cap):
            self._shed(self.workers[key])
        keeping = [*self.workers.values(), *self._draining.values()]
        if keeping:
            lost = set(await self.store_call(self.store.renew, [w.fence for w in keeping], now))
            for worker in keeping:
                if worker.partition_key in lost:
                    worker.lost = True
                    worker.begin_stop()
                    self.workers.pop(worker.partition_key, None)
        await self.store_call(self.store.heartbeat, self.group, self.topic, self.name, now)
        await self.store_call(
            self.store.purge_stale,
            self.group,
            self.topic,
            now - PURGE_AFTER_LEASES * self.config.lease_duration_ms,
        )

    def _with_work(self, discovered: list[str]) -> set[str]:
        """Partitions with messages waiting, or in a handler right now (a claimed delivery may
        keep its partition out of discovery)."""
        return set(discovered) | {k for k, w in self.workers.items() if w.handling}

    # --- workers ---------------------------------------------------------------------------------

    def _start_worker(self, fence: Fence) -> None:
        worker = PartitionWorker(self, fence)
        self.workers[fence.partition_key] = worker
        worker.start()

    def _shed(self, worker: PartitionWorker) -> None:
        """Give a partition up without waiting: the worker finishes the delivery under way, hands
        the rest back and releases the lease itself; until then its lease is still renewed."""
        self.workers.pop(worker.partition_key, None)
        self._draining[worker.partition_key] = worker
        worker.release_on_exit = True
        worker.begin_stop()

    async def _stop_worker(self, worker: PartitionWorker, *, release: bool) -> None:
        await worker.stop()
        self.workers.pop(worker.partition_key, None)
        if release and not worker.lost:
            with contextlib.suppress(Exception):
                await self.store_call(self.store.release, worker.fence)

    def worker_ended(self, worker: PartitionWorker) -> None:
        if self._draining.get(worker.partition_key) is worker:
            del self._draining[worker.partition_key]
            self._discovery_soon()
            if self._sleeping:
                self._reschedule.set()
        if self.workers.get(worker.partition_key) is worker and worker.lost:
            del self.workers[worker.partition_key]
            self._next_discovery_ms = self.clock.now_ms()
            self._wake.set()

    def owned(self) -> list[str]:
        return sorted(self.workers)

    def describe(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "group": self.group,
            "subscriber": self.name,
            "partitions": self.owned(),
        }
