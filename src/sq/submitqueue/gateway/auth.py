"""Optional bearer tokens: none configured means an open gateway (the demo's default)."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from sq.submitqueue.gateway.errors import UnauthorizedError


@dataclass(frozen=True, slots=True, kw_only=True)
class Auth:
    tokens: frozenset[str] = frozenset()
    protect_reads: bool = False

    @classmethod
    def from_tokens(cls, tokens: Iterable[str], *, protect_reads: bool = False) -> Auth:
        return cls(tokens=frozenset(t for t in tokens if t), protect_reads=protect_reads)

    def check(self, authorization: str | None, *, write: bool) -> None:
        """Raise UnauthorizedError unless the header carries a configured token (when needed)."""
        if not self.tokens or not (write or self.protect_reads):
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise UnauthorizedError("this endpoint needs an Authorization: Bearer token")
        # Compare against every token so that timing says nothing about which one nearly matched.
        matched = False
        for known in self.tokens:
            matched |= hmac.compare_digest(known.encode(), token.strip().encode())
        if not matched:
            raise UnauthorizedError("the bearer token is not accepted")
