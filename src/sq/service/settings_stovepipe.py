"""Stovepipe's part of `sq.yaml`: the queues it validates.

```yaml
stovepipe:
  queues:
    - name: monorepo/main
      repository: /srv/git/monorepo.git     # a path or any URL git can fetch and push
      ref: refs/heads/main
      promotion_ref: refs/heads/verified-main
      build: {runner: command, command: "make test", incremental_command: "make test-since"}
      poll_interval: 2s
      projects:                             # optional (phase 2): per-project greenness
        - name: b
          paths: ["b/"]
          build: {command: "make -C b test"}
          promotion_ref: refs/heads/verified-b
```
No queues configured means a demo: any queue name is accepted, on a fake repository and the fake
runner.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from sq.service.settings_hooks import HooksConfig
from sq.service.settings_runners import RemoteRunnerSection
from sq.service.settings_types import NAME, OptionalSeconds, Seconds, Section

_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


class StovepipeBuildSettings(RemoteRunnerSection):
    runner: Literal["fake", "command", "buildkite", "github-actions"] = "command"
    command: str = Field(default="", description="Full build: runs at the head (SQ_BASE)")
    incremental_command: str = Field(
        default="", description="Incremental build; gets the last green as SQ_BASELINE"
    )
    timeout: Seconds = 1800.0

    @model_validator(mode="after")
    def _command_needs_text(self) -> StovepipeBuildSettings:
        if self.runner == "command" and not self.command.strip():
            raise ValueError("build.runner 'command' needs build.command")
        return self


class StovepipeProjectBuildSettings(Section):
    command: str = Field(min_length=1, description="The project's own build, run at the commit")


class StovepipeProjectSettings(Section):
    name: str = Field(pattern=NAME.pattern)
    paths: list[str] = Field(
        min_length=1, description="Globs of the paths the project owns (a directory owns its tree)"
    )
    build: StovepipeProjectBuildSettings | None = Field(
        default=None, description="Without one, a red commit that needs it fails it closed"
    )
    promotion_ref: str | None = Field(default=None, description="e.g. refs/heads/verified-<name>")


class StovepipeQueueSettings(Section):
    name: str = Field(pattern=_QUEUE.pattern)
    source_control: Literal["git", "fake"] = "git"
    repository: str = ""
    ref: str = "refs/heads/main"
    promotion_ref: str | None = None
    build: StovepipeBuildSettings = StovepipeBuildSettings(runner="fake")
    poll_interval: Seconds = 30.0
    max_concurrent: int = Field(default=1, ge=1)
    gate_wait: Seconds = 5.0
    max_validation: OptionalSeconds = Field(
        default=7200.0, description="A build unfinished after this fails closed; 0 = never"
    )
    projects: list[StovepipeProjectSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _git_needs_repository(self) -> StovepipeQueueSettings:
        if self.source_control == "git" and not self.repository.strip():
            raise ValueError(f"queue {self.name!r}: source_control 'git' needs repository")
        return self

    @model_validator(mode="after")
    def _remote_runner_has_a_repository(self) -> StovepipeQueueSettings:
        problem = self.build.queue_problem(self.build.runner, self.repository)
        if problem:
            raise ValueError(f"queue {self.name!r}: {problem}")
        return self

    @model_validator(mode="after")
    def _projects_are_distinct(self) -> StovepipeQueueSettings:
        names = [p.name for p in self.projects]
        refs = [r for r in [self.promotion_ref, *(p.promotion_ref for p in self.projects)] if r]
        for what, values in (("project", names), ("promotion_ref", refs)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"queue {self.name!r}: {what} {dupes[0]!r} is used twice")
        return self


class StovepipeSettings(Section):
    url: str | None = Field(default=None, description="Database; default <data_dir>/stovepipe.db")
    queues: list[StovepipeQueueSettings] = Field(default_factory=list)
    poll_accepted: Seconds = 5.0
    poll_running: Seconds = 2.0
    max_concurrent_builds: int = Field(default=4, ge=1, description="Across queues, per process")
    lease_duration: Seconds = Field(
        default=30.0, description="How long a dead process keeps its partitions"
    )
    visibility_timeout: Seconds = Field(
        default=60.0, description="When a delivery a dead process held comes back"
    )
    hooks: HooksConfig = HooksConfig()

    def subscription_overrides(self) -> dict[str, int]:
        lease_ms = round(self.lease_duration * 1000)
        return {
            "lease_duration_ms": lease_ms,
            "lease_renewal_interval_ms": max(1, lease_ms // 3),
            "visibility_timeout_ms": round(self.visibility_timeout * 1000),
        }

    @model_validator(mode="after")
    def _unique_names(self) -> StovepipeSettings:
        names = [q.name for q in self.queues]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"queue {dupes[0]!r} is configured twice")
        return self
