"""Wiring of the orchestrator: its database, one profile per configured queue, the pipeline."""

from __future__ import annotations

import re
from pathlib import Path

import structlog

from sq.platform import migrations
from sq.platform.build import BuildRunner, BuildState
from sq.platform.build.command import CommandBuildRunner, OnFinish
from sq.platform.build.fake import FakeBuildRunner
from sq.platform.clock import Clock, SystemClock
from sq.platform.pipeline import construct
from sq.platform.publish import intent_id
from sq.service.github.clients import GitHubClients
from sq.service.hooks import wire_hooks
from sq.service.runners import RemoteRunnersCloser, remote_runner
from sq.service.runtime import Runtime, ServiceParts, register
from sq.service.settings_runners import REMOTE_RUNNERS
from sq.service.settings_submitqueue import QueueConfig
from sq.service.twin import TwinBuildRunner, TwinChangeProvider, workload_of
from sq.submitqueue.core import messages as m
from sq.submitqueue.extension.changeprovider import ChangeProvider
from sq.submitqueue.extension.changeprovider.fake import FakeChangeProvider
from sq.submitqueue.extension.changeprovider.git import GitChangeProvider
from sq.submitqueue.extension.changeprovider.github import GitHubChangeProvider
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.all import AllConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.none import NoneConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
    Granularity,
    PathOverlapConflictAnalyzer,
)
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.scorer.heuristic import EXAMPLE_BUCKETS, HeuristicScorer
from sq.submitqueue.extension.scorer.history import HistoryConfig, HistoryScorer
from sq.submitqueue.extension.scorer.members import MemberProductScorer
from sq.submitqueue.extension.speculator import Speculator
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator
from sq.submitqueue.orchestrator.api import builds_router, speculation_router
from sq.submitqueue.orchestrator.buildruns import BuildRuns
from sq.submitqueue.orchestrator.changes import BatchChanges
from sq.submitqueue.orchestrator.controller.build import signal_partition
from sq.submitqueue.orchestrator.controller.hooks import SOURCE
from sq.submitqueue.orchestrator.metrics import orchestrator_collector
from sq.submitqueue.orchestrator.pipeline import PUBLISH_ONLY, STAGES, TOPIC_NAMES
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, Profiles, QueueProfile
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema
from sq.submitqueue.orchestrator.storage.outcomes import SqlOutcomeStore

log = structlog.get_logger("sq.orchestrator")


class _Runners:
    def __init__(self, data_dir: Path, on_finish: OnFinish | None, clock: Clock) -> None:
        self._data_dir = data_dir
        self._on_finish = on_finish
        self._clock = clock
        self.fake = FakeBuildRunner()
        self._command: CommandBuildRunner | None = None
        self._twins: dict[str, TwinBuildRunner] = {}

    def for_queue(self, config: QueueConfig) -> BuildRunner:
        if config.build.runner == "fake":
            return self.fake
        if config.build.runner == "command":
            if self._command is None:
                root = self._data_dir / "builds"
                self._command = CommandBuildRunner(
                    workspace_dir=root / "workspaces",
                    log_dir=root / "logs",
                    on_finish=self._on_finish,
                )
            return self._command
        if config.build.runner == "twin" and config.twin is not None:
            key = config.twin.model_dump_json()
            if key not in self._twins:
                self._twins[key] = TwinBuildRunner(
                    workload_of(config.twin),
                    config.twin.factor,
                    on_finish=self._on_finish,
                    journal=config.twin.journal,
                )
            return self._twins[key]
        if config.build.runner in REMOTE_RUNNERS:
            return remote_runner(
                queue=config.name,
                runner=config.build.runner,
                build=config.build,
                repository=config.repository,
                timeout_s=config.build.timeout,
                workspace_dir=self._data_dir / "builds" / "remote" / _safe(config.name),
                clock=self._clock,
                on_finish=self._on_finish,
            )
        raise ValueError(f"queue {config.name!r}: build runner {config.build.runner!r} not built")

    def reports_end(self, config: QueueConfig) -> bool:
        """Whether the queue's runner signals each build's end itself (then its running builds
        are polled only as a backstop): the command and twin runners, here; external CI is
        polled."""
        return self._on_finish is not None and config.build.runner in ("command", "twin")


class _CommandRunnersCloser:
    """Cancels the builds this process runs when it stops, so that their ends are recorded as
    stopped with their runner (`lost`, never counted as CI cancelling them) and another instance
    builds them again at once, not a lease later. The twin's runner (bench only) drops its
    builds' timers."""

    def __init__(self, profiles: Profiles) -> None:
        self._runners = {
            id(p.runner): p.runner for p in profiles if isinstance(p.runner, CommandBuildRunner)
        }
        self._twins = {
            id(p.runner): p.runner for p in profiles if isinstance(p.runner, TwinBuildRunner)
        }

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        for runner in self._runners.values():
            await runner.close()
        for twin in self._twins.values():
            await twin.stop()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _provider(config: QueueConfig, data_dir: Path, github: GitHubClients) -> ChangeProvider:
    if config.provider == "fake":
        return FakeChangeProvider()
    if config.provider == "twin" and config.twin is not None:
        return TwinChangeProvider(workload_of(config.twin))
    if config.provider == "git":
        return GitChangeProvider(
            repository=config.repository,
            target=config.target,
            workspace=data_dir / "orchestrator" / "changes" / config.name,
        )
    return GitHubChangeProvider(
        client=github.for_queue(config),
        repository=config.repository,
        target=config.target,
        workspace=data_dir / "orchestrator" / "changes" / config.name,
    )


def _analyzer(kind: str, config: QueueConfig, changes: BatchChanges) -> ConflictAnalyzer:
    """The conflict analyzer named `kind` (`all`, `none` or `pathoverlap` at the queue's depth)."""
    if kind == "none":
        return NoneConflictAnalyzer()
    if kind == "pathoverlap":
        depth = config.conflict_analyzer_depth
        if depth == 0:
            return PathOverlapConflictAnalyzer(changes.files, Granularity.FILE)
        return PathOverlapConflictAnalyzer(changes.files, Granularity.DIRECTORY, depth=depth)
    return AllConflictAnalyzer()


def _scorer(config: QueueConfig, changes: BatchChanges, storage: OrchestratorStorage) -> Scorer:
    if config.scorer == "constant":
        return ConstantScorer(config.default_probability)
    if config.scorer == "history":
        return HistoryScorer(
            changes.features,
            SqlOutcomeStore(storage.engine, config.name),
            HistoryConfig(prior_mean=config.default_probability),
        )
    return HeuristicScorer(EXAMPLE_BUCKETS, changes.lines)


def _speculator(config: QueueConfig, scorer: Scorer) -> Speculator:
    if config.speculator == "standard":
        return StandardSpeculator(
            scorer, config.build_budget, default_probability=config.default_probability
        )
    defaults = ValueSettings()
    settings = ValueSettings(
        budget=config.build_budget,
        threshold=_or(config.speculation_threshold, defaults.threshold),
        hysteresis=_or(config.speculation_hysteresis, defaults.hysteresis),
        default_probability=config.default_probability,
    )
    # Every head is expected to build as long as any other until build times are predicted.
    return ValueSpeculator(scorer, settings)


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def exact_lanes(queues: list[QueueConfig]) -> list[QueueConfig]:
    """The queues whose configured analyzer `QueueConfig.orders_every_change` overrides."""
    return [q for q in queues if q.orders_every_change]


def profiles_for(
    queues: list[QueueConfig],
    storage: OrchestratorStorage,
    data_dir: Path,
    runs: BuildRuns | None = None,
    clock: Clock | None = None,
    github: GitHubClients | None = None,
) -> list[QueueProfile]:
    github = github if github is not None else GitHubClients()
    changes = BatchChanges(storage)
    runners = _Runners(
        data_dir, runs.finished if runs is not None else None, clock or SystemClock()
    )
    profiles = []
    for q in queues:
        scorer = _scorer(q, changes, storage)
        per_member = MemberProductScorer(scorer)
        speculator = _speculator(q, per_member)
        provider = _provider(q, data_dir, github)
        profiles.append(
            QueueProfile(
                name=q.name,
                provider=provider,
                analyzer=_analyzer(q.dependency_analyzer, q, changes),
                separating_analyzer=(
                    _analyzer(q.conflict_analyzer, q, changes) if q.orders_every_change else None
                ),
                speculator=speculator,
                runner=runners.for_queue(q),
                reports_end=runners.reports_end(q),
                repository=q.repository,
                target=q.target,
                strategy=q.strategy.value,
                build_command=q.build.command,
                target_head=provider.target_head
                if isinstance(provider, GitChangeProvider | GitHubChangeProvider)
                else None,
                build_timeout_s=q.build.timeout,
                outcomes=scorer if isinstance(scorer, HistoryScorer) else None,
                landing_check=q.landing,
                early_landing=q.early_landing,
                flaky_retries=q.flaky_retries,
                pending_failure_depth=q.pending_failure_depth,
                batching=q.batching.policy(q.build_budget),
                scorer=scorer,
            )
        )
    return profiles


@register("orchestrator")
def build_orchestrator(runtime: Runtime) -> ServiceParts:
    engine = runtime.engine_for(
        "orchestrator",
        schema(),
        migrations.counter_schema(),
        url=runtime.settings.submitqueue.orchestrator_database_url,
    )
    storage = OrchestratorStorage(engine)
    data_dir = runtime.settings.data_dir.resolve()
    buildsignal = TOPIC_NAMES.get(m.TOPIC_BUILDSIGNAL, m.TOPIC_BUILDSIGNAL)

    async def signal(queue: str, build_id: str, state: BuildState) -> None:
        # A partition of its own: the build's poll holds its partition until it is next due.
        await runtime.queue.publish(
            buildsignal,
            signal_partition(build_id),
            intent_id(build_id, "finished", state.value),
            m.EntityRef(id=build_id, queue=queue),
        )

    lease_s = runtime.settings.mq.lease_duration_ms / 1000
    runs = BuildRuns(
        storage,
        runtime.clock,
        beat_s=lease_s / 3,
        stale_s=lease_s,
        signal=signal,
        runner_of=lambda queue: profiles.get(queue).runner,
    )
    github = GitHubClients()
    for config in exact_lanes(runtime.settings.submitqueue.queues):
        log.warning(
            "exact landing orders every change: independent lanes need landing: disjoint",
            queue=config.name,
            conflict_analyzer=config.conflict_analyzer,
            landing=config.landing.value,
            effect="each change builds on every change ahead of it, as with conflict_analyzer: "
            "all, so that the tree each build passed is the tree that lands",
            option="landing: disjoint",
        )
    profiles = Profiles(
        profiles_for(
            runtime.settings.submitqueue.queues, storage, data_dir, runs, runtime.clock, github
        )
    )
    hooks = wire_hooks(runtime, SOURCE, runtime.settings.submitqueue.hooks, engine)
    deps = OrchestratorDeps(
        storage=storage, profiles=profiles, clock=runtime.clock, hooks=hooks.deps, runs=runs
    )
    pipeline = construct(
        runtime.queue,
        deps,
        hooks.apply(STAGES),
        publish_only=PUBLISH_ONLY,
        topic_names=TOPIC_NAMES,
        gate=runtime.gate,
        base_config=runtime.settings.mq.subscription_overrides(),
    )
    return ServiceParts(
        name="orchestrator",
        routers=[*hooks.routers, builds_router(deps), speculation_router(deps)],
        components=[
            *hooks.components,
            github,
            runs,
            _CommandRunnersCloser(profiles),
            RemoteRunnersCloser(p.runner for p in profiles),
            pipeline,
        ],
        collectors=[
            orchestrator_collector(
                engine,
                runtime.clock.now_ms,
                {
                    p.name: p.batching.deep
                    for p in profiles
                    if p.batching.deep is not None and p.batching.enabled
                },
            )
        ],
    )
