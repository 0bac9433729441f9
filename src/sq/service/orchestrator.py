"""Wiring of the orchestrator: its database, one profile per configured queue, the pipeline."""

from __future__ import annotations

from pathlib import Path

from sq.platform import migrations
from sq.platform.build import BuildRunner
from sq.platform.build.command import CommandBuildRunner
from sq.platform.build.fake import FakeBuildRunner
from sq.platform.pipeline import construct
from sq.service.runtime import Runtime, ServiceParts, register
from sq.service.settings_submitqueue import QueueConfig
from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.extension.changeprovider import ChangeProvider
from sq.submitqueue.extension.changeprovider.fake import FakeChangeProvider
from sq.submitqueue.extension.changeprovider.git import GitChangeProvider
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.all import AllConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.none import NoneConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
    Granularity,
    PathOverlapConflictAnalyzer,
)
from sq.submitqueue.extension.scorer.heuristic import EXAMPLE_BUCKETS, HeuristicScorer
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.orchestrator.pipeline import PUBLISH_ONLY, STAGES
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, Profiles, QueueProfile
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema


class _Changes:
    """Change details of a batch, read from the orchestrator's claims (blocking)."""

    def __init__(self, storage: OrchestratorStorage) -> None:
        self._storage = storage

    def files(self, batch: Batch) -> list[str]:
        return [f.path for info in self._infos(batch) for f in info.files]

    def lines(self, batch: Batch) -> int:
        return sum(info.lines_changed for info in self._infos(batch))

    def _infos(self, batch: Batch) -> list:  # type: ignore[type-arg]
        infos = []
        for request_id in batch.contains:
            request = self._storage.get_request(batch.queue, request_id)
            if request is not None:
                infos += self._storage.changes_of(request)
        return infos


class _Runners:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self.fake = FakeBuildRunner()
        self._command: CommandBuildRunner | None = None

    def for_queue(self, config: QueueConfig) -> BuildRunner:
        if config.build.runner == "fake":
            return self.fake
        if config.build.runner == "command":
            if self._command is None:
                root = self._data_dir / "builds"
                self._command = CommandBuildRunner(
                    workspace_dir=root / "workspaces", log_dir=root / "logs"
                )
            return self._command
        raise ValueError(f"queue {config.name!r}: build runner {config.build.runner!r} not built")


def _provider(config: QueueConfig, data_dir: Path) -> ChangeProvider:
    if config.provider == "fake":
        return FakeChangeProvider()
    if config.provider == "git":
        return GitChangeProvider(
            repository=config.repository,
            target=config.target,
            workspace=data_dir / "orchestrator" / "changes" / config.name,
        )
    raise ValueError(f"queue {config.name!r}: provider {config.provider!r} is not available yet")


def _analyzer(config: QueueConfig, changes: _Changes) -> ConflictAnalyzer:
    if config.conflict_analyzer == "none":
        return NoneConflictAnalyzer()
    if config.conflict_analyzer == "pathoverlap":
        # Directory granularity: the coarser, safer choice while the config has no knob for it.
        return PathOverlapConflictAnalyzer(changes.files, Granularity.DIRECTORY)
    return AllConflictAnalyzer()


def profiles_for(
    queues: list[QueueConfig], storage: OrchestratorStorage, data_dir: Path
) -> list[QueueProfile]:
    changes = _Changes(storage)
    runners = _Runners(data_dir)
    scorer = HeuristicScorer(EXAMPLE_BUCKETS, changes.lines)
    return [
        QueueProfile(
            name=q.name,
            provider=_provider(q, data_dir),
            analyzer=_analyzer(q, changes),
            speculator=StandardSpeculator(scorer, q.build_budget),
            runner=runners.for_queue(q),
            repository=q.repository,
            target=q.target,
            strategy=q.strategy.value,
            build_command=q.build.command,
            build_timeout_s=q.build.timeout,
        )
        for q in queues
    ]


@register("orchestrator")
def build_orchestrator(runtime: Runtime) -> ServiceParts:
    engine = runtime.engine_for("orchestrator", schema(), migrations.counter_schema())
    storage = OrchestratorStorage(engine)
    data_dir = runtime.settings.data_dir.resolve()
    profiles = profiles_for(runtime.settings.submitqueue.queues, storage, data_dir)
    deps = OrchestratorDeps(storage=storage, profiles=Profiles(profiles), clock=runtime.clock)
    pipeline = construct(runtime.queue, deps, STAGES, publish_only=PUBLISH_ONLY, gate=runtime.gate)
    return ServiceParts(name="orchestrator", components=[pipeline])
