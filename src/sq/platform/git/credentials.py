"""HTTP credentials for git, per URL prefix, held in this process only.

A token registered for `https://github.com/acme/` is sent by every git command this process runs
against URLs under that prefix, as an `Authorization` header given through git's
`GIT_CONFIG_COUNT` environment (never on a command line, never in a URL, so never in an error
message or a log line).
"""

from __future__ import annotations

import base64
import threading

_lock = threading.Lock()
_headers: dict[str, str] = {}


def register_http_token(url_prefix: str, token: str, *, user: str = "x-access-token") -> None:
    """Send `token` (HTTP basic, as GitHub expects for tokens) to every URL under `url_prefix`."""
    basic = base64.b64encode(f"{user}:{token}".encode()).decode("ascii")
    with _lock:
        _headers[url_prefix] = f"Authorization: Basic {basic}"


def forget_http_tokens() -> None:
    with _lock:
        _headers.clear()


def credential_environment() -> dict[str, str]:
    """The `GIT_CONFIG_*` variables that carry the registered headers (empty when none)."""
    with _lock:
        items = sorted(_headers.items())
    env: dict[str, str] = {}
    if not items:
        return env
    env["GIT_CONFIG_COUNT"] = str(len(items))
    for i, (prefix, header) in enumerate(items):
        env[f"GIT_CONFIG_KEY_{i}"] = f"http.{prefix}.extraHeader"
        env[f"GIT_CONFIG_VALUE_{i}"] = header
    return env
