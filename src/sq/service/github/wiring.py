"""The gateway's GitHub parts: the webhook route and the reporter's pipeline, when any queue is
on the GitHub provider."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sq.platform.pipeline import Stage, construct
from sq.service.github.clients import GitHubClients, github_config, read_webhook_secret
from sq.service.github.pinner import GitHubPinner
from sq.service.github.reporter import (
    CONSUMER_GROUP,
    GitHubReporter,
    GitHubReportReconciler,
    ReportedQueue,
)
from sq.service.github.webhook import GitHubWebhook, WebhookQueue, webhook_router
from sq.service.runtime import Runtime
from sq.submitqueue.core.messages import TOPIC_LOG
from sq.submitqueue.gateway.service import Gateway
from sq.submitqueue.gateway.storage import DeliveryLedger


def github_gateway_parts(runtime: Runtime, gateway: Gateway) -> tuple[list[APIRouter], list[Any]]:
    """Routers and components to add to the gateway (none when no queue uses GitHub)."""
    queues = [q for q in runtime.settings.submitqueue.queues if q.provider == "github"]
    if not queues:
        return [], []
    clients = GitHubClients()
    reported: dict[str, ReportedQueue] = {}
    hooked: list[WebhookQueue] = []
    for q in queues:
        client = clients.for_queue(q)
        config = github_config(q)
        reported[q.name] = ReportedQueue(name=q.name, target=q.target, config=config, client=client)
        secret = read_webhook_secret(q)
        if secret is not None:
            hooked.append(
                WebhookQueue(
                    name=q.name,
                    repository=q.repository,
                    target=q.target,
                    config=config,
                    client=client,
                    secret=secret,
                )
            )
    gateway.pinner = GitHubPinner({q.name: (reported[q.name].client, q.repository) for q in queues})
    store = gateway.store
    pipeline = construct(
        runtime.queue,
        store,
        [
            Stage(
                key=TOPIC_LOG,
                consumer_group=CONSUMER_GROUP,
                new=lambda s, _: GitHubReporter(s, reported.get),
                dlq=lambda _s, _c: GitHubReportReconciler(),
            )
        ],
        gate=runtime.gate,
        base_config=runtime.settings.mq.subscription_overrides(),
    )
    routers = []
    if hooked:
        ledger = DeliveryLedger(store.engine)
        routers.append(webhook_router(GitHubWebhook(gateway, ledger, hooked)))
    return routers, [clients, pipeline]
