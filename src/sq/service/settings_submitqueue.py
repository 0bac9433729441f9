"""SubmitQueue's part of `sq.yaml`: its queues and databases.

A queue has the shape of ARCHITECTURE.md §7; an absent section means one `demo` queue on the fake
provider. Who may call the gateway is the process-wide `auth` section (`settings_auth`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from sq.api.runway import LandingCheck
from sq.platform.github import repository_name
from sq.service.settings_github import GitHubConfig
from sq.service.settings_hooks import HooksConfig
from sq.service.settings_runners import RemoteRunnerSection
from sq.service.settings_twin import TwinConfig
from sq.service.settings_types import NAME, OptionalSeconds, Seconds, Section
from sq.submitqueue.core.batching import (
    DEEP_MAX_SIZE,
    DEEP_MAX_WAIT_MS,
    DEFAULT_DEEP_LOAD,
    DEFAULT_MIN_PASS_PROBABILITY,
    BatchPolicy,
    DeepBatching,
    SplitRule,
)
from sq.submitqueue.core.messages import LandStrategy


class BuildConfig(RemoteRunnerSection):
    runner: Literal["fake", "command", "buildkite", "github-actions", "twin"] = "fake"
    command: str = Field(default="", description="What the command runner runs in the tree")
    timeout: Seconds = Field(default=1800.0, description="Seconds (or 30m, 90s, 1h)")

    @model_validator(mode="after")
    def _command_needs_text(self) -> BuildConfig:
        if self.runner == "command" and not self.command.strip():
            raise ValueError("build.runner 'command' needs build.command")
        return self


class DeepBatchingConfig(Section):
    """How a queue batches while it is deep (doc/batching-queue.md, "When CI cannot build every
    change"): pairs with no dependency cap by default."""

    build_time: Seconds = Field(
        ge=1.0,
        description="The queue's typical build time (seconds, or 30m): arrivals are counted "
        "over this window",
    )
    load: float = Field(
        default=DEFAULT_DEEP_LOAD,
        gt=0.0,
        allow_inf_nan=False,
        description="Deep from this many arrivals per build time per slot of build_budget "
        "(1 = one build per change would take every slot)",
    )
    max_size: int = Field(
        default=DEEP_MAX_SIZE, ge=1, le=64, description="Most changes in one batch"
    )
    max_wait: OptionalSeconds = Field(
        default=DEEP_MAX_WAIT_MS / 1000, description="How long a change waits for its batch to fill"
    )
    max_dependencies: int | None = Field(
        default=None, ge=0, description="As batching.max_dependencies; unset = no limit"
    )

    def policy(self, budget: int) -> DeepBatching:
        return DeepBatching(
            build_time_ms=round(self.build_time * 1000),
            arrivals=self.load * budget,
            max_size=self.max_size,
            max_wait_ms=round(self.max_wait * 1000),
            max_dependencies=self.max_dependencies,
        )


class BatchingConfig(Section):
    """Which waiting changes share one build (doc/batching-queue.md); max_size 1 = no batching."""

    max_size: int = Field(
        default=1, ge=1, le=64, description="Most changes in one batch; 1 = every change alone"
    )
    max_wait: OptionalSeconds = Field(
        default=0.0,
        description="How long a change waits for its batch to fill (seconds, or 30s, 2m)",
    )
    min_pass_probability: float = Field(
        default=DEFAULT_MIN_PASS_PROBABILITY,
        ge=0.0,
        le=1.0,
        description="A batch takes no change that would drop its chance to pass below this",
    )
    split: SplitRule = Field(
        default=SplitRule.LIKELIEST,
        description="How a failed batch is cut: likeliest (isolate the likeliest culprit) or "
        "halves (queue order)",
    )
    max_dependencies: int | None = Field(
        default=None,
        ge=0,
        description="A change joins a batch only while the batches in flight that the batch "
        "conflicts with stay within this many (keeps batches from forming where conflicts are "
        "dense); unset = no limit",
    )
    separate_conflicting: bool = Field(
        default=False, description="Two waiting changes that conflict never share a batch"
    )
    deep: DeepBatchingConfig | None = Field(
        default=None,
        description="How the queue batches instead while more changes arrive per build time "
        "than its build budget (unset = the same way always)",
    )

    def policy(self, budget: int) -> BatchPolicy:
        return BatchPolicy(
            max_size=self.max_size,
            max_wait_ms=round(self.max_wait * 1000),
            min_pass_probability=self.min_pass_probability,
            split=self.split,
            max_dependencies=self.max_dependencies,
            separate_conflicting=self.separate_conflicting,
            deep=None if self.deep is None else self.deep.policy(budget),
        )


class QueueConfig(Section):
    name: str
    provider: Literal["fake", "git", "github", "twin"] = "fake"
    repository: str = Field(default="", description="A path or any URL git can fetch and push")
    target: str = "refs/heads/main"
    strategy: LandStrategy = LandStrategy.REBASE
    build: BuildConfig = BuildConfig()
    github: GitHubConfig | None = Field(
        default=None, description="provider github: API, token, webhook and label settings"
    )
    twin: TwinConfig | None = Field(
        default=None,
        description="bench only (bench/twin.py): the simulator workload of provider and runner "
        "twin",
    )
    conflict_analyzer: Literal["all", "none", "pathoverlap"] = "all"
    conflict_analyzer_depth: int | None = Field(
        default=None,
        ge=0,
        description="pathoverlap: 0 = same file; N = same directory cut to N levels; "
        "unset = same parent directory",
    )
    landing: LandingCheck = Field(
        default=LandingCheck.EXACT,
        description="exact: land only on the build's base plus the landings it assumed (every "
        "landed tree was built); disjoint: also when the target moved only on paths the change "
        "did not touch (independent lanes land without building again, see "
        "doc/speculation.md)",
    )
    build_budget: int = Field(default=4, ge=1)
    flaky_retries: int = Field(
        default=0,
        ge=0,
        le=5,
        description="How many times a path's failed build is built again (a flaky build) "
        "before the failure counts; 0 = the first failure fails the path",
    )
    pending_failure_depth: int = Field(
        default=0,
        ge=0,
        le=10,
        description="A change whose own builds all failed stays queued while one of the first N "
        "changes behind it still builds with it; if that build passes both land in one push; "
        "0 = it fails at once",
    )
    speculator: Literal["standard", "value"] = Field(
        default="value",
        description="standard: the reference's best-first ranking, every free slot funded; "
        "value: builds funded by value per build time, with a threshold and preemption",
    )
    speculation_threshold: float | None = Field(
        default=None,
        ge=0.0,
        description="value speculator: the value a path beyond a head's best must reach "
        "(unset = the built-in default, see doc/speculation.md)",
    )
    speculation_hysteresis: float | None = Field(
        default=None,
        ge=1.0,
        description="value speculator: how many times denser a candidate must be than a "
        "running build to cancel it (unset = the built-in default)",
    )
    early_landing: bool = Field(
        default=False,
        description="land a change ahead of unfinished dependencies once its passed builds "
        "cover every outcome of them (see doc/speculation.md)",
    )
    scorer: Literal["constant", "heuristic", "history"] = Field(
        default="history",
        description="history: per-author, per-folder and per-size pass rates learnt from the "
        "queue's own outcomes, starting at default_probability; constant: default_probability "
        "for every change; heuristic: the reference's example size buckets (0.95 for one line "
        "down to 0.40 past twenty)",
    )
    batching: BatchingConfig = BatchingConfig()
    default_probability: float = Field(
        default=0.95,
        ge=0.0,
        le=1.0,
        description="What a change nobody can score is believed to land with: the constant "
        "scorer's value, the history scorer's prior",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("queue names are 1-100 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not value.startswith("refs/") or value == "refs/":
            raise ValueError("target must be a fully-qualified ref such as refs/heads/main")
        return value

    @property
    def orders_every_change(self) -> bool:
        """Lands real git exactly while its analyzer calls some changes independent.

        Exact landing lands a build only on the target it assumed, so independent lanes cannot
        land side by side: each landing would make every other lane's passed build outdated, to
        be built again on the new target, one landing per build time (doc/speculation.md, "Exact
        trees and independent lanes"). Such a queue orders every change after the ones ahead
        instead, as the `all` analyzer does, so that each build is of the tree that will land.
        Fake and twin queues land nothing, so they keep their analyzer."""
        return (
            self.landing is LandingCheck.EXACT
            and self.conflict_analyzer != "all"
            and self.provider not in ("fake", "twin")
        )

    @property
    def dependency_analyzer(self) -> str:
        """The analyzer that gives a change its dependencies: `all` for a queue that
        `orders_every_change`, else `conflict_analyzer`."""
        return "all" if self.orders_every_change else self.conflict_analyzer

    @model_validator(mode="after")
    def _depth_needs_pathoverlap(self) -> QueueConfig:
        if self.conflict_analyzer_depth is not None and self.conflict_analyzer != "pathoverlap":
            raise ValueError(
                f"queue {self.name!r}: conflict_analyzer_depth applies only to "
                f"conflict_analyzer pathoverlap, not {self.conflict_analyzer}"
            )
        return self

    @model_validator(mode="after")
    def _tuning_needs_value(self) -> QueueConfig:
        tuned = self.speculation_threshold is not None or self.speculation_hysteresis is not None
        if tuned and self.speculator != "value":
            raise ValueError(
                f"queue {self.name!r}: speculation_threshold and speculation_hysteresis apply "
                f"only to speculator value, not {self.speculator}"
            )
        return self

    @model_validator(mode="after")
    def _repository_when_real(self) -> QueueConfig:
        if self.provider not in ("fake", "twin") and not self.repository:
            raise ValueError(f"queue {self.name!r}: provider {self.provider} needs a repository")
        return self

    @model_validator(mode="after")
    def _twin_needs_its_workload(self) -> QueueConfig:
        uses_twin = self.provider == "twin" or self.build.runner == "twin"
        if uses_twin and self.twin is None:
            raise ValueError(f"queue {self.name!r}: provider or runner twin needs a twin section")
        if self.twin is not None and not uses_twin:
            raise ValueError(f"queue {self.name!r}: a twin section needs provider or runner twin")
        return self

    @model_validator(mode="after")
    def _github_settings(self) -> QueueConfig:
        if self.provider != "github":
            if self.github is not None and self.build.runner != "github-actions":
                raise ValueError(f"queue {self.name!r}: github settings need provider github")
            return self
        if self.github is None:
            self.github = GitHubConfig()
        try:
            repository_name(self.repository)
        except ValueError as exc:
            raise ValueError(f"queue {self.name!r}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _remote_runner_has_a_repository(self) -> QueueConfig:
        problem = self.build.queue_problem(self.build.runner, self.repository)
        if problem:
            raise ValueError(f"queue {self.name!r}: {problem}")
        return self


def _demo_queues() -> list[QueueConfig]:
    return [QueueConfig(name="demo")]


class SubmitQueueSettings(Section):
    queues: list[QueueConfig] = Field(default_factory=_demo_queues)
    gateway_database_url: str | None = Field(
        default=None, description="The gateway's database; default <data_dir>/gateway.db"
    )
    orchestrator_database_url: str | None = Field(
        default=None,
        description="The orchestrator's database; default <data_dir>/orchestrator.db",
    )
    hooks: HooksConfig = HooksConfig()

    @field_validator("queues")
    @classmethod
    def _unique(cls, queues: list[QueueConfig]) -> list[QueueConfig]:
        names = [q.name for q in queues]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"queue names must be unique: {', '.join(twice)}")
        return queues
