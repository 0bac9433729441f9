"""The `auth` and `http` parts of `sq.yaml`: who may call the HTTP APIs, how big a body may be.

Token values never live in the file: each entry names an environment variable holding one token,
or several separated by commas (to rotate one without downtime). An unset or empty variable adds
no token. With none at all every API is open, which `sq serve` allows on loopback only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import Field

from sq.service.access import Access, Scope
from sq.service.http_guard import DEFAULT_MAX_BODY_BYTES
from sq.service.settings_types import ENV_NAME, Section


class TokenSource(Section):
    env: str = Field(pattern=ENV_NAME.pattern, description="Variable holding tokens")
    scope: Scope


def _default_sources() -> list[TokenSource]:
    return [
        TokenSource(env="SQ_ADMIN_TOKENS", scope=Scope.ADMIN),
        TokenSource(env="SQ_WRITE_TOKENS", scope=Scope.WRITE),
        TokenSource(env="SQ_READ_TOKENS", scope=Scope.READ),
    ]


class AuthSettings(Section):
    tokens: list[TokenSource] = Field(default_factory=_default_sources)
    anonymous_reads: bool = Field(
        default=False, description="Leave reads open even when tokens are configured"
    )

    def access(self, environ: Mapping[str, str] | None = None) -> Access:
        env = os.environ if environ is None else environ
        return Access.of(
            (
                (token.strip(), source.scope)
                for source in self.tokens
                for token in env.get(source.env, "").split(",")
                if token.strip()
            ),
            anonymous_reads=self.anonymous_reads,
        )


class HttpSettings(Section):
    max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, gt=0, description="Larger request bodies get 413"
    )
