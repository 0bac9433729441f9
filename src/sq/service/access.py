"""Who may call the HTTP APIs of a process: bearer tokens, each with one scope.

With no token configured every API is open (the loopback demo; `sq serve` refuses a public address
in that state unless told `--insecure`). Once any token is configured every route needs one: a read
(GET, HEAD, OPTIONS) the read scope, any other method the write scope, a route declared `ADMIN_ONLY`
the admin scope. Scopes are ordered: an admin token may also write and read, a write token may
read. `anonymous_reads` leaves reads open for deployments that only guard writes.

Health, readiness, the API's own schema and docs, and the dashboard's static files (`/ui/`) stay
open: they carry no data, and probes, clients and browsers need them before they hold a token.
See doc/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


_RANK = {Scope.READ: 0, Scope.WRITE: 1, Scope.ADMIN: 2}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
GITHUB_WEBHOOK_PATH = "/api/v1/github/webhook"
"""Authenticated by its own HMAC signature (GitHub sends no bearer token), so it is open here."""
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        GITHUB_WEBHOOK_PATH,
    }
)
OPEN_PREFIXES = ("/ui/",)
"""The dashboard's static files: the page holds no data; its API calls carry the user's token."""
SCOPE_KEY = "x-sq-scope"
ADMIN_ONLY = {SCOPE_KEY: Scope.ADMIN.value}
"""`openapi_extra` of a route that needs the admin scope whatever its method."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Denial:
    status: int
    code: str
    message: str
    challenge: str


def _digest(token: str) -> bytes:
    # Equal-length digests, so the comparison's time says nothing about a token's length either.
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Access:
    """The accepted tokens (as digests: the values themselves are never kept, so never logged)."""

    digests: tuple[tuple[bytes, Scope], ...] = ()
    anonymous_reads: bool = False

    @classmethod
    def of(cls, tokens: Iterable[tuple[str, Scope]], *, anonymous_reads: bool = False) -> Access:
        return cls(
            digests=tuple((_digest(t), s) for t, s in tokens if t),
            anonymous_reads=anonymous_reads,
        )

    @staticmethod
    def is_open_path(path: str) -> bool:
        return path in OPEN_PATHS or path == "/ui" or path.startswith(OPEN_PREFIXES)

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    def needed(self, method: str, declared: str | None = None) -> Scope | None:
        """The scope a call needs; None when it is open."""
        if not self.enabled:
            return None
        if declared is not None:
            return Scope(declared)
        if method.upper() in READ_METHODS:
            return None if self.anonymous_reads else Scope.READ
        return Scope.WRITE

    def scope_of(self, token: str) -> Scope | None:
        """The widest scope `token` carries, comparing against every known token in constant
        time so that timing tells nothing about which one nearly matched."""
        offered = _digest(token)
        best: Scope | None = None
        for known, scope in self.digests:
            if hmac.compare_digest(known, offered) and (best is None or _RANK[scope] > _RANK[best]):
                best = scope
        return best

    def check(self, needed: Scope | None, authorization: str | None) -> Denial | None:
        """None when the call may go ahead; else why not. Never echoes the token."""
        if needed is None:
            return None
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return Denial(
                status=401,
                code="unauthorized",
                message="this endpoint needs an Authorization: Bearer token",
                challenge="Bearer",
            )
        scope = self.scope_of(token)
        if scope is None:
            return Denial(
                status=401,
                code="unauthorized",
                message="the bearer token is not accepted",
                challenge='Bearer error="invalid_token"',
            )
        if _RANK[scope] < _RANK[needed]:
            return Denial(
                status=403,
                code="forbidden",
                message=f"this endpoint needs the {needed} scope; the token has {scope}",
                challenge=f'Bearer error="insufficient_scope", scope="{needed}"',
            )
        return None


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_without_tokens(host: str, access: Access, *, insecure: bool) -> str | None:
    """Why `sq serve` must not listen on `host`, or None when it may."""
    if insecure or access.enabled or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host}, a non-loopback address, with no token configured; "
        "set one (see doc/security.md) or pass --insecure"
    )
