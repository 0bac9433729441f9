"""The GitHub webhook: `POST /api/v1/github/webhook`, queueing and dequeueing pull requests.

Order of checks: the headers, a JSON body naming a repository some queue serves, the
`X-Hub-Signature-256` HMAC under that queue's secret, then the delivery id (a replay is refused
with 409). A delivery that could not be acted on (the message queue was down) is forgotten again,
so GitHub's redelivery is not refused. Errors are 4xx with the usual JSON error body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sq.platform.changeuri import GitHubChangeURI
from sq.platform.github import (
    GitHubClient,
    GitHubError,
    GitHubUnavailableError,
    repository_name,
)
from sq.platform.hooks import verify_signature
from sq.service.access import GITHUB_WEBHOOK_PATH
from sq.service.github.commands import Action, Intent, MalformedEventError, decide
from sq.service.settings_github import GitHubConfig
from sq.submitqueue.gateway.errors import AlreadySettledError, GatewayError, NotFoundError
from sq.submitqueue.gateway.service import Gateway
from sq.submitqueue.gateway.status import is_terminal
from sq.submitqueue.gateway.storage import DeliveryLedger

log = structlog.get_logger("sq.github")

SOURCE = "github"
WRITERS = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookQueue:
    name: str
    repository: str
    target: str
    config: GitHubConfig
    client: GitHubClient
    secret: str = field(repr=False)


class WebhookError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GitHubWebhook:
    def __init__(
        self, gateway: Gateway, ledger: DeliveryLedger, queues: Sequence[WebhookQueue]
    ) -> None:
        self._gateway = gateway
        self._ledger = ledger
        self._queues = list(queues)

    async def receive(self, headers: dict[str, str], body: bytes) -> dict[str, str]:
        event = headers.get("x-github-event", "")
        delivery = headers.get("x-github-delivery", "")
        if not event or not delivery or len(delivery) > 255:
            raise WebhookError(
                400, "invalid_request", "X-GitHub-Event and X-GitHub-Delivery needed"
            )
        payload = _json(body)
        queues = self._serving(payload)
        signature = headers.get("x-hub-signature-256")
        if not any(verify_signature(q.secret, body, signature) for q in queues):
            raise WebhookError(401, "bad_signature", "X-Hub-Signature-256 does not match the body")
        now = self._gateway.clock.now_ms()
        if not await asyncio.to_thread(self._ledger.record, SOURCE, delivery, now):
            raise WebhookError(409, "replayed", f"delivery {delivery} was already received")
        try:
            intent = decide(event, payload, queues[0].config.label)
            result = await self._act(queues, intent)
        except MalformedEventError as exc:
            raise WebhookError(400, "invalid_request", f"malformed {event} event: {exc}") from None
        except GitHubError as exc:
            await asyncio.to_thread(self._ledger.forget, SOURCE, delivery)
            raise WebhookError(422, "github_refused", str(exc)) from None
        except (GatewayError, GitHubUnavailableError, OSError) as exc:
            await asyncio.to_thread(self._ledger.forget, SOURCE, delivery)
            if isinstance(exc, GatewayError) and exc.status < 500:
                raise WebhookError(exc.status, exc.code, exc.message) from None
            raise WebhookError(503, "unavailable", f"could not act on {event}: {exc}") from None
        except Exception:
            await asyncio.to_thread(self._ledger.forget, SOURCE, delivery)
            raise
        log.info("github webhook", github_event=event, delivery=delivery, result=result)
        return {"result": result}

    def _serving(self, payload: dict[str, Any]) -> list[WebhookQueue]:
        repository = payload.get("repository")
        full_name = repository.get("full_name") if isinstance(repository, dict) else None
        if not isinstance(full_name, str):
            raise WebhookError(400, "invalid_request", "the payload names no repository")
        found = [
            q
            for q in self._queues
            if repository_name(q.repository).full_name.lower() == full_name.lower()
        ]
        if not found:
            raise WebhookError(404, "not_found", f"no queue serves {full_name}")
        return found

    async def _act(self, queues: list[WebhookQueue], intent: Intent) -> str:
        if intent.action is Action.PING:
            return "pong"
        if intent.action is Action.IGNORE:
            return f"ignored: {intent.reason}"
        first = queues[0]
        name = repository_name(first.repository)
        sha, base_ref = intent.sha, intent.base_ref
        if sha is None or (intent.action is Action.LAND and base_ref is None):
            pull = await first.client.get_pull(name.owner, name.repo, intent.number)
            sha, base_ref = sha or pull.head_sha, base_ref or pull.base_ref
        if intent.actor is not None and not await _allowed(first, intent.actor):
            return f"ignored: {intent.actor} may not {intent.action.value} pull requests here"
        uri = str(
            GitHubChangeURI(
                host=name.host, org=name.owner, repo=name.repo, number=intent.number, sha=sha
            )
        )
        if intent.action is Action.LAND:
            return await self._land(queues, uri, base_ref or "")
        return await self._cancel(queues, uri, intent.reason)

    async def _land(self, queues: list[WebhookQueue], uri: str, base_ref: str) -> str:
        queue = next((q for q in queues if q.target == f"refs/heads/{base_ref}"), None)
        if queue is None:
            return f"ignored: no queue lands on {base_ref}"
        queued = await self._in_flight(queue.name, uri)
        if queued:
            return f"already queued as {queued[0]}"
        summary = await self._gateway.land(queue.name, [uri], None)
        return f"queued as {summary.request_id}"

    async def _cancel(self, queues: list[WebhookQueue], uri: str, reason: str) -> str:
        cancelled: list[str] = []
        for queue in queues:
            for request_id in await self._in_flight(queue.name, uri):
                if await self._merged(request_id):
                    continue
                try:
                    await self._gateway.cancel(request_id, reason)
                except (AlreadySettledError, NotFoundError):
                    continue
                cancelled.append(request_id)
        return f"cancelled {', '.join(cancelled)}" if cancelled else "ignored: nothing queued"

    async def _in_flight(self, queue: str, uri: str) -> list[str]:
        found = await asyncio.to_thread(self._gateway.store.list_by_change, queue, uri, 20)
        return [s.request_id for s in found if not is_terminal(s.status)]

    async def _merged(self, request_id: str) -> bool:
        # Closing a landed pull request is the reporter's own doing: never a reason to cancel.
        try:
            history = await self._gateway.history(request_id)
        except NotFoundError:
            return False
        return any(e.event == "merged" for e in history)


async def _allowed(queue: WebhookQueue, user: str) -> bool:
    if user in queue.config.allowed_users:
        return True
    name = repository_name(queue.repository)
    return await queue.client.permission(name.owner, name.repo, user) in WRITERS


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError(400, "invalid_request", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookError(400, "invalid_request", "the body is not a JSON object")
    return payload


def webhook_router(webhook: GitHubWebhook) -> APIRouter:
    router = APIRouter(tags=["github"])

    @router.post(GITHUB_WEBHOOK_PATH, response_model=None)
    async def github_webhook(request: Request) -> JSONResponse:
        """GitHub's `pull_request` and `issue_comment` events (see doc/github.md)."""
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            result = await webhook.receive(headers, body)
        except WebhookError as exc:
            error = {"error": {"code": exc.code, "message": exc.message}}
            return JSONResponse(error, status_code=exc.status)
        return JSONResponse(result)

    return router
