"""The webhook sink: a JSON POST of each event, signed with HMAC-SHA256 over the exact body.

Headers: `X-SQ-Event-Id`, `X-SQ-Event-Type`, and `X-SQ-Signature: sha256=<hex digest>`. A
receiver recomputes the digest over the raw body it read (`verify_signature`) and dedups by the
event id. The sink never retries by itself: 5xx, 408, 429, timeouts and connection failures raise
`HookDeliveryError` and the queue redelivers with backoff; any other non-2xx raises
`PermanentHookError`.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx2

from sq.platform.hooks.event import HookEvent
from sq.platform.hooks.sink import HookDeliveryError, PermanentHookError

SIGNATURE_HEADER = "X-SQ-Signature"
EVENT_ID_HEADER = "X-SQ-Event-Id"
EVENT_TYPE_HEADER = "X-SQ-Event-Type"
_PREFIX = "sha256="
_RETRYABLE_STATUS = frozenset({408, 429})


def sign(secret: str | bytes, body: bytes) -> str:
    """The signature header value for `body`: `sha256=<hex HMAC-SHA256>`."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return _PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of exactly these body bytes under `secret`."""
    if not header or not header.startswith(_PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())


def encode_body(event: HookEvent) -> bytes:
    return event.model_dump_json().encode("utf-8")


class WebhookHookSink:
    """POSTs events to one URL. `secret` None sends no signature (an unsigned endpoint)."""

    def __init__(
        self,
        url: str,
        *,
        secret: str | None,
        timeout_s: float = 10.0,
        name: str = "",
        headers: dict[str, str] | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s), not {url!r}")
        self.url = url
        self.name = name or f"webhook {url}"
        self._secret = secret
        self._headers = dict(headers or {})
        self._timeout = timeout_s
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(
                timeout=self._timeout, transport=self._transport, follow_redirects=False
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def handle(self, event: HookEvent) -> None:
        body = encode_body(event)
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            EVENT_ID_HEADER: event.id,
            EVENT_TYPE_HEADER: event.type,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        try:
            response = await self._http().post(self.url, content=body, headers=headers)
        except httpx2.TransportError as exc:
            raise HookDeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        text = f"{self.name}: HTTP {status}"
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise HookDeliveryError(text)
        raise PermanentHookError(text)
