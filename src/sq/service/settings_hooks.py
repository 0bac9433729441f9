"""The `hooks:` section of a domain (`submitqueue.hooks`, `stovepipe.hooks`): where its hook
events go and how long delivery is retried.

```yaml
submitqueue:
  hooks:
    sinks:
      - type: webhook
        url: https://deploy-gate.example.com/sq-events
        secret_env: SQ_DEPLOY_GATE_SECRET   # the HMAC secret is read from this variable
        timeout: 5s
      - type: log
    retry: {max_attempts: 12, initial_backoff: 1s, max_backoff: 5m}
```
No sinks means one log sink: hooks are never off silently, so "off" can be told from "lost".
Secrets never live in the file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sq.service.settings_types import ENV_NAME, Seconds, Section


class HookSinkConfig(Section):
    type: Literal["log", "webhook"]
    name: str = Field(default="", description="Names the sink in errors; default from the type")
    url: str = Field(default="", description="webhook: where events are POSTed (http or https)")
    secret_env: str | None = Field(
        default=None, description="webhook: environment variable holding the HMAC-SHA256 secret"
    )
    timeout: Seconds = Field(default=10.0, description="webhook: per-request timeout")
    headers: dict[str, str] = Field(default_factory=dict, description="webhook: extra headers")

    @model_validator(mode="after")
    def _webhook_fields(self) -> HookSinkConfig:
        if self.type == "webhook" and not self.url.startswith(("http://", "https://")):
            raise ValueError("a webhook sink needs an http(s) url")
        if self.type == "log" and (self.url or self.secret_env or self.headers):
            raise ValueError("a log sink takes no url, secret_env or headers")
        if self.secret_env is not None and not ENV_NAME.match(self.secret_env):
            raise ValueError(f"secret_env {self.secret_env!r} is not an environment variable name")
        return self


class HookRetryConfig(Section):
    max_attempts: int = Field(default=12, ge=1)
    initial_backoff: Seconds = 1.0
    max_backoff: Seconds = 300.0


class HooksConfig(Section):
    sinks: list[HookSinkConfig] = Field(default_factory=list)
    retry: HookRetryConfig = HookRetryConfig()
