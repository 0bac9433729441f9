"""The keys of a `build:` section that point a queue at a remote CI (SubmitQueue and Stovepipe).

```yaml
build: {runner: buildkite, organization: acme, pipeline: web-ci, token_env: SQ_BUILDKITE_TOKEN}
build: {runner: github-actions, owner: acme, repo: web, workflow: ci.yml}
```
`api_url` defaults to the real API; the token comes from the variable `token_env` (default
`SQ_BUILDKITE_TOKEN` / `SQ_GITHUB_TOKEN`) or the file `token_file`, never from this file. The tree
of each build is pushed to `push_url` (default: the queue's repository) under `ref_prefix`.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sq.platform.build.remote import DEFAULT_REF_PREFIX
from sq.service.settings_types import ENV_NAME

REMOTE_RUNNERS = ("buildkite", "github-actions")
DEFAULT_TOKEN_ENV = {"buildkite": "SQ_BUILDKITE_TOKEN", "github-actions": "SQ_GITHUB_TOKEN"}
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GITHUB_REPO = re.compile(r"^https?://[^/]+/([^/]+)/([^/]+?)(?:\.git)?/?$")


class RemoteRunnerFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_url: str | None = Field(
        default=None,
        description="The CI's API; default https://api.buildkite.com or api.github.com",
    )
    token_env: str | None = Field(default=None, description="The variable holding the API token")
    token_file: str | None = Field(default=None, description="Or a file holding the API token")
    organization: str = Field(default="", description="buildkite: the organization slug")
    pipeline: str = Field(default="", description="buildkite: the pipeline slug")
    owner: str = Field(default="", description="github-actions: default from the repository URL")
    repo: str = Field(default="", description="github-actions: default from the repository URL")
    workflow: str = Field(default="", description="github-actions: the workflow file or id")
    push_url: str = Field(default="", description="Where build trees are pushed; default the repo")
    push_token_env: str | None = Field(
        default=None,
        description="The variable holding a token for git over HTTPS (github-actions: "
        "default the API token)",
    )
    ref_prefix: str = Field(default=DEFAULT_REF_PREFIX, description="Queue-owned refs of builds")

    def remote_problem(self, runner: str) -> str | None:
        """Why these keys cannot drive `runner` (None when they can, or it is not remote)."""
        if runner not in REMOTE_RUNNERS:
            return None
        if self.token_env is not None and self.token_file is not None:
            return "build: give token_env or token_file, not both"
        if self.token_env is not None and not ENV_NAME.match(self.token_env):
            return f"build: token_env {self.token_env!r} is not a variable name"
        if self.push_token_env is not None and not ENV_NAME.match(self.push_token_env):
            return f"build: push_token_env {self.push_token_env!r} is not a variable name"
        if self.api_url is not None and not self.api_url.startswith(("http://", "https://")):
            return f"build: api_url must be http(s), not {self.api_url!r}"
        if not self.ref_prefix.startswith("refs/") or not self.ref_prefix.endswith("/"):
            return f"build: ref_prefix must look like refs/…/, not {self.ref_prefix!r}"
        if runner == "buildkite":
            for key in ("organization", "pipeline"):
                if not _SLUG.match(getattr(self, key)):
                    return f"build.runner buildkite needs build.{key}"
        elif not self.workflow.strip():
            return "build.runner github-actions needs build.workflow"
        return None

    def queue_problem(self, runner: str, repository: str) -> str | None:
        """What a queue with this `repository` lacks to use `runner` (None: nothing)."""
        if runner == "github-actions" and not self.github_repository(repository):
            return (
                "build.runner github-actions needs build.owner and build.repo "
                "(or a repository URL https://HOST/OWNER/REPO)"
            )
        if runner in REMOTE_RUNNERS and not (self.push_url or repository):
            return f"build.runner {runner} needs a repository or build.push_url to push trees to"
        return None

    def github_repository(self, repository: str) -> tuple[str, str] | None:
        """(owner, repo) for GitHub Actions: the keys, else the repository's URL."""
        if self.owner and self.repo:
            return self.owner, self.repo
        match = _GITHUB_REPO.match(repository)
        return (match.group(1), match.group(2)) if match else None


class RemoteRunnerSection(RemoteRunnerFields):
    @model_validator(mode="after")
    def _remote_keys(self) -> RemoteRunnerSection:
        problem = self.remote_problem(str(getattr(self, "runner", "")))
        if problem:
            raise ValueError(problem)
        return self
