"""Loopback helpers for whatever drives `sq serve` processes over HTTP: the crash soak here and
the multi-process tests (`tests/support/sq_cluster.py`, which finds this folder on pytest's
`pythonpath`)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One JSON request; the status and the decoded body, for error statuses too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
