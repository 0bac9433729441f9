"""The `github:` keys of a queue on the GitHub provider (doc/github.md).

Secrets are never in the file: `token_env`/`token_file` and `webhook_secret_env`/
`webhook_secret_file` name where they are read from at start (`sq.service.github.secrets`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sq.service.settings_types import ENV_NAME


class GitHubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_url: str = Field(
        default="https://api.github.com",
        description="REST API base URL (GitHub Enterprise: https://HOST/api/v3)",
    )
    token_env: str | None = Field(
        default="SQ_GITHUB_TOKEN", description="Environment variable holding the API token"
    )
    token_file: str | None = Field(
        default=None, description="File holding the API token (used instead of token_env)"
    )
    webhook_secret_env: str | None = Field(
        default=None, description="Environment variable holding the webhook's HMAC secret"
    )
    webhook_secret_file: str | None = Field(
        default=None, description="File holding the webhook's HMAC secret"
    )
    label: str = Field(default="sq-land", min_length=1, description="Label that queues a PR")
    allowed_users: list[str] = Field(
        default_factory=list,
        description="Who may `/sq land` and `/sq cancel` besides users with write or admin "
        "permission on the repository",
    )
    status_context: str = Field(default="submitqueue", min_length=1)
    public_url: str = Field(
        default="",
        description="Where people reach this queue's API (links in statuses and comments)",
    )

    @field_validator("api_url", "public_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("token_env", "webhook_secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> GitHubConfig:
        if self.webhook_secret_env and self.webhook_secret_file:
            raise ValueError("give webhook_secret_env or webhook_secret_file, not both")
        return self
