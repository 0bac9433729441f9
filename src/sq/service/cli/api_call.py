"""One JSON call to an `sq serve` HTTP API for the light CLI groups (stdlib only, so they start
fast), with the house exit codes: 2 bad input, 1 not found, 3 unreachable."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import click

from sq.service.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    bearer_token,
    http_address,
)

TOKEN_ENV = "SQ_TOKEN"  # noqa: S105  (the name of the variable, not a token)
DEFAULT_EXIT_FOR_STATUS: Mapping[int, int] = {
    400: EXIT_BAD_INPUT,
    404: EXIT_FAILED,
    422: EXIT_BAD_INPUT,
}

addr_option = click.option(
    "--addr",
    envvar="SQ_ADDR",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Where `sq serve` listens (env SQ_ADDR).",
)


def call_api(
    addr: str,
    url_path: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    exit_for_status: Mapping[int, int] = DEFAULT_EXIT_FOR_STATUS,
) -> Any:
    """The decoded JSON answer; on an error answer, print its message in one line and exit.
    Sends `Authorization: Bearer $SQ_TOKEN` when that variable is set."""
    addr = http_address(addr)
    headers = {"Content-Type": "application/json"}
    token = bearer_token(TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310  (http_address checked the scheme)
        addr.rstrip("/") + url_path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            message = f"{error['message']} ({error['code']})"
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {exc.code}"
        click.echo(f"error: {message}", err=True)
        fallback = EXIT_UNREACHABLE if exc.code >= 500 else EXIT_FAILED
        code = EXIT_BAD_INPUT if exc.code in (401, 403) else exit_for_status.get(exc.code, fallback)
        raise SystemExit(code) from None
    except (urllib.error.URLError, OSError) as exc:
        click.echo(f"error: cannot reach {addr}: {exc}", err=True)
        raise SystemExit(EXIT_UNREACHABLE) from None
