"""The message queue as the rest of the system sees it: publish, subscribe, close."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog

from sq.platform.clock import Clock, SystemClock
from sq.platform.messagequeue.groupcommit import GroupCommit
from sq.platform.messagequeue.model import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    OutgoingMessage,
    SubscriptionConfig,
    encode_payload,
    validate_keys,
    validate_message,
    validate_topic,
)
from sq.platform.messagequeue.store import QueueStore
from sq.platform.messagequeue.subscriber import Signal, Subscription
from sq.platform.messagequeue.values import positional
from sq.platform.messagequeue.wakeup import Waker
from sq.platform.messagequeue.worker import Handler, WindowHandler

_outgoing = positional(OutgoingMessage)

log = structlog.get_logger("sq.mq")


def default_subscriber_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class PublisherClosedError(RuntimeError):
    pass


class MessageQueue:
    """A durable, partitioned, at-least-once queue with consumer groups over one `QueueStore`."""

    def __init__(
        self,
        store: QueueStore,
        *,
        clock: Clock | None = None,
        waker: Waker | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        subscriber_name: str | None = None,
        on_signal: Signal | None = None,
        watcher: Callable[[Waker], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.waker = waker or Waker()
        self.max_payload_bytes = max_payload_bytes
        self.subscriber_name = subscriber_name or default_subscriber_name()
        self.on_signal = on_signal
        self.subscriptions: list[Subscription] = []
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher = watcher
        self._watching: asyncio.Future[None] | None = None
        self._group = GroupCommit(self.store, self.clock.now_ms, self.woke)

    def message(
        self,
        topic: str,
        partition_key: str,
        message_id: str,
        payload: Any,
        metadata: Mapping[str, str] | None = None,
    ) -> OutgoingMessage:
        """Build and validate a message; raises InvalidMessageError with a one-line reason."""
        validate_topic(topic)
        message = _outgoing(
            topic,
            partition_key,
            message_id,
            encode_payload(payload, self.max_payload_bytes),
            dict(metadata) if metadata else {},
            self.clock.now_ms(),
        )
        validate_keys(message)  # the topic and the payload's size are checked above
        return message

    async def publish(
        self,
        topic: str,
        partition_key: str,
        message_id: str,
        payload: Any,
        metadata: Mapping[str, str] | None = None,
    ) -> bool:
        """Publish one message; False when its (topic, partition key, id) was already stored."""
        message = self.message(topic, partition_key, message_id, payload, metadata)
        stored = await self._publish_valid((message,))
        return stored[0]

    async def publish_many(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        """Publish messages in one transaction (all or none).

        Calls made at the same time share a transaction (`groupcommit.py`); each gets its own
        result, and returns once its messages are committed.
        """
        for message in messages:
            validate_message(message, self.max_payload_bytes)
        return await self._publish_valid(messages)

    def _publish_valid(self, messages: Sequence[OutgoingMessage]) -> asyncio.Future[list[bool]]:
        self._loop = asyncio.get_running_loop()
        if self._closed:
            raise PublisherClosedError("publisher is closed")
        return self._group.publish(messages)

    def publish_sync(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        if self._closed:
            raise PublisherClosedError("publisher is closed")
        for message in messages:
            validate_message(message, self.max_payload_bytes)
        stored = self.store.publish(messages, self.clock.now_ms())
        self.woke(messages, stored)
        return stored

    def woke(self, messages: Sequence[OutgoingMessage], stored: Sequence[bool]) -> None:
        """Wake local readers of what was stored (call after a caller's transaction commits)."""
        partitions = {
            (message.topic, message.partition_key)
            for message, ok in zip(messages, stored, strict=True)
            if ok
        }
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # published from a thread: the loop wakes its own readers
            loop = self._loop
            if loop is None or loop.is_closed():
                return
            for topic, partition_key in partitions:
                loop.call_soon_threadsafe(self.waker.notify, topic, partition_key)
            return
        # On the loop, at once: a wake-up only sets an event, and a group commit wakes a reader
        # for each partition it wrote to.
        for topic, partition_key in partitions:
            self.waker.notify(topic, partition_key)

    async def subscribe(
        self,
        topic: str,
        config: SubscriptionConfig,
        handler: Handler,
        *,
        window_handler: WindowHandler | None = None,
    ) -> Subscription:
        """Start consuming `topic` as `config.consumer_group`; returns the running subscription.

        With `window_handler`, a partition's fetched window of several deliveries goes to it in
        one call instead of to `handler` one at a time (`worker.WindowHandler`)."""
        validate_topic(topic)
        if self._closed:
            raise PublisherClosedError("queue is closed")
        self._loop = asyncio.get_running_loop()
        if self._watcher is not None and self._watching is None:
            self._watching = asyncio.ensure_future(self._watcher(self.waker))
        subscription = Subscription(
            store=self.store,
            clock=self.clock,
            waker=self.waker,
            topic=topic,
            config=config,
            handler=handler,
            window_handler=window_handler,
            subscriber_name=self.subscriber_name,
            on_signal=self.on_signal,
        )
        self.subscriptions.append(subscription)
        subscription.start()
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        await subscription.stop()
        self.subscriptions.remove(subscription)

    def is_idle(self) -> bool:
        return all(s.is_idle() for s in self.subscriptions)

    async def close(self) -> None:
        """Stop every subscription (handing back unstarted deliveries), then refuse publishes."""
        for subscription in list(self.subscriptions):
            await self.unsubscribe(subscription)
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
            self._watching = None
        self._closed = True
