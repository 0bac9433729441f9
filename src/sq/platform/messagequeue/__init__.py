"""A durable, partitioned, at-least-once message queue over SQL (platform-spec §1, §7)."""

from sq.platform.messagequeue.delivery import AlreadyFinalizedError, Delivery
from sq.platform.messagequeue.model import (
    InvalidMessageError,
    LeaseLostError,
    OutgoingMessage,
    RetryPolicy,
    StoredMessage,
    SubscriptionConfig,
    dlq_topic,
)
from sq.platform.messagequeue.queue import MessageQueue, PublisherClosedError
from sq.platform.messagequeue.store import QueueStore
from sq.platform.messagequeue.subscriber import Subscription

__all__ = [
    "AlreadyFinalizedError",
    "Delivery",
    "InvalidMessageError",
    "LeaseLostError",
    "MessageQueue",
    "OutgoingMessage",
    "PublisherClosedError",
    "QueueStore",
    "RetryPolicy",
    "StoredMessage",
    "Subscription",
    "SubscriptionConfig",
    "dlq_topic",
]
