"""Stovepipe's wiring: settings → queues, SourceControl, build runners, pipeline, poller, API."""

from __future__ import annotations

import re
from pathlib import Path

from sq.platform import migrations
from sq.platform.build import BuildRunner
from sq.platform.build.command import CommandBuildRunner
from sq.platform.build.fake import FakeBuildRunner
from sq.platform.counter import Counter
from sq.platform.pipeline import construct
from sq.service.hooks import wire_hooks
from sq.service.runners import RemoteRunnersCloser, remote_runner
from sq.service.runtime import Runtime, ServiceParts, register
from sq.service.settings_runners import REMOTE_RUNNERS
from sq.service.settings_stovepipe import StovepipeQueueSettings, StovepipeSettings
from sq.stovepipe import api
from sq.stovepipe.buildruns import BuildRuns
from sq.stovepipe.controller.events import SOURCE
from sq.stovepipe.controller.ingest import IngestController
from sq.stovepipe.deps import Deps, ProjectSetup, QueueSetup
from sq.stovepipe.extension.projectmapper.glob import GlobProjectMapper
from sq.stovepipe.extension.sourcecontrol import NotFoundError, SourceControl
from sq.stovepipe.extension.sourcecontrol.fake import FakeSourceControlFactory
from sq.stovepipe.extension.sourcecontrol.git import GitSourceControl
from sq.stovepipe.poller import Poller
from sq.stovepipe.stages import stages
from sq.stovepipe.storage import SqlStorage, schema
from sq.stovepipe.storage.metrics import stovepipe_collector

DEMO_HISTORY = ("git://<queue>/HEAD",)


class ConfiguredSourceControl:
    """Each configured queue's SourceControl, built once (git workspaces under the data dir)."""

    def __init__(self, settings: StovepipeSettings, root: Path, fake: FakeSourceControlFactory):
        self._by_queue: dict[str, SourceControl] = {}
        for queue in settings.queues:
            project_refs = {p.name: p.promotion_ref for p in queue.projects if p.promotion_ref}
            if queue.source_control == "fake":
                repo = fake.add(queue.name, [f"git://{queue.name}/HEAD"])
                repo.refs.update(project_refs)
                self._by_queue[queue.name] = repo
                continue
            self._by_queue[queue.name] = GitSourceControl(
                repository=queue.repository,
                ref=queue.ref,
                promotion_ref=queue.promotion_ref,
                project_refs=project_refs,
                workspace=root / "git" / _safe(queue.name),
            )

    def for_queue(self, queue: str) -> SourceControl:
        try:
            return self._by_queue[queue]
        except KeyError:
            raise NotFoundError(f"unknown queue {queue!r}") from None


class _RunnerCloser:
    def __init__(self, runner: CommandBuildRunner) -> None:
        self.runner = runner

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await self.runner.close()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _setup(queue: StovepipeQueueSettings) -> QueueSetup:
    return QueueSetup(
        name=queue.name,
        repository=queue.repository,
        full_command=queue.build.command,
        incremental_command=queue.build.incremental_command,
        max_concurrent=queue.max_concurrent,
        gate_wait_delay_ms=round(queue.gate_wait * 1000),
        max_validation_ms=round(queue.max_validation * 1000),
        build_timeout_s=queue.build.timeout,
        poll_interval_s=queue.poll_interval,
        projects=tuple(
            ProjectSetup(name=p.name, command=p.build.command if p.build else "")
            for p in queue.projects
        ),
    )


def _mapper(queue: StovepipeQueueSettings) -> GlobProjectMapper:
    return GlobProjectMapper({p.name: p.paths for p in queue.projects})


def _runner(
    queue: StovepipeQueueSettings,
    command: CommandBuildRunner,
    fake: FakeBuildRunner,
    root: Path,
    runtime: Runtime,
) -> BuildRunner:
    if queue.build.runner == "command":
        return command
    if queue.build.runner in REMOTE_RUNNERS:
        return remote_runner(
            queue=queue.name,
            runner=queue.build.runner,
            build=queue.build,
            repository=queue.repository,
            timeout_s=queue.build.timeout,
            workspace_dir=root / "remote" / _safe(queue.name),
            clock=runtime.clock,
        )
    return fake


@register("stovepipe")
def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings.stovepipe
    root = runtime.settings.data_dir / "stovepipe"
    engine = runtime.engine_for(
        "stovepipe", schema(), migrations.counter_schema(), url=settings.url
    )
    demo = not settings.queues
    fake_sc = FakeSourceControlFactory(
        runtime.clock, default_history=DEMO_HISTORY if demo else None
    )
    storage = SqlStorage(engine)
    fake_runner = FakeBuildRunner()
    runners: dict[str, BuildRunner] = {}
    # A dead process's runs go stale when its partitions move to the survivors, not before.
    lease_s = settings.lease_duration
    runs = BuildRuns(
        storage,
        runtime.clock,
        beat_s=lease_s / 3,
        stale_s=lease_s,
        runner_of=lambda queue: runners.get(queue, fake_runner),
    )
    command_runner = CommandBuildRunner(
        workspace_dir=root / "builds",
        log_dir=root / "logs",
        max_concurrent=settings.max_concurrent_builds,
        clock=runtime.clock,
        on_finish=runs.finished,
    )
    runners.update(
        {q.name: _runner(q, command_runner, fake_runner, root, runtime) for q in settings.queues}
    )
    hooks = wire_hooks(runtime, SOURCE, settings.hooks, engine)
    deps = Deps(
        storage=storage,
        source_control=fake_sc if demo else ConfiguredSourceControl(settings, root, fake_sc),
        runner=fake_runner,
        runners=runners,
        counter=Counter(engine),
        queues={q.name: _setup(q) for q in settings.queues},
        clock=runtime.clock,
        poll_accepted_s=settings.poll_accepted,
        poll_running_s=settings.poll_running,
        any_queue=demo,
        mappers={q.name: _mapper(q) for q in settings.queues if q.projects},
        hooks=hooks.deps,
        runs=runs,
    )
    ingest = IngestController(deps, runtime.queue)
    pipeline = construct(
        runtime.queue,
        deps,
        hooks.apply(stages()),
        topic_names=hooks.topic_names,
        gate=runtime.gate,
        base_config=settings.subscription_overrides(),
    )
    poller = Poller(ingest, [(q.name, q.poll_interval) for q in settings.queues], runtime.clock)
    return ServiceParts(
        name="stovepipe",
        routers=[api.router(ingest, poller), *hooks.routers],
        components=[
            *hooks.components,
            runs,
            _RunnerCloser(command_runner),
            RemoteRunnersCloser(runners.values()),
            pipeline,
            poller,
        ],
        collectors=[stovepipe_collector(engine, runtime.clock.now_ms)],
    )
