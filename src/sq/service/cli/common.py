"""Exit codes and helpers shared by every `sq` command."""

from __future__ import annotations

import os
from typing import NoReturn
from urllib.parse import urlsplit

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one line to stderr and exit with `code` (2, bad input, unless told otherwise)."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def http_address(addr: str) -> str:
    """`addr` as the base URL of an HTTP API (`host:port` means `http://host:port`), or a
    one-line error naming what is wrong with it."""
    url = addr if "://" in addr else f"http://{addr}"
    try:
        split = urlsplit(url)
        split.port  # noqa: B018 -- parsed lazily: a bad port fails only when read
    except ValueError as exc:
        fail(f"--addr {addr!r} is not a URL: {exc}")
    if split.scheme not in ("http", "https") or not split.hostname or any(c.isspace() for c in url):
        fail(f"--addr must be an http(s) URL with a host, not {addr!r}")
    return url


def bearer_token(variable: str) -> str | None:
    """The token in environment variable `variable`, if set; one that cannot travel in an HTTP
    header is a one-line error."""
    token = os.environ.get(variable, "").strip()
    if not token:
        return None
    if not (token.isascii() and token.isprintable()):
        fail(f"${variable} must be printable ASCII (a bearer token)")
    return token
