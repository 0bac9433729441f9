"""What Stovepipe's controllers share: storage, seams, the queues' setup and the poll cadence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sq.platform.build import BuildRunner
from sq.platform.clock import Clock, SystemClock
from sq.platform.counter import Counter
from sq.platform.hooks import HookDeps, default_hook_deps
from sq.stovepipe.buildruns import BuildRuns
from sq.stovepipe.extension.projectmapper import ProjectMapper
from sq.stovepipe.extension.sourcecontrol import NotFoundError, SourceControlFactory
from sq.stovepipe.storage import SqlStorage

_NAME_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def valid_queue_name(name: str) -> bool:
    """A queue name a deployment that accepts any queue (the fake source control) takes:
    `/`-separated segments of letters, digits, `.`, `_` and `-`, none starting with a dot
    (`monorepo/main`). Anything else would reach storage, logs and metric labels as given."""
    return 0 < len(name) <= 200 and all(_NAME_SEGMENT.fullmatch(p) for p in name.split("/"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectSetup:
    """One project of a queue (phase 2): the paths it owns are the mapper's business."""

    name: str
    command: str = ""
    """The project-scoped build, run at the commit in the same tree; empty: no own build, so a
    project that would need one fails closed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSetup:
    """One queue's configuration, as the service wiring resolved it from the settings."""

    name: str
    repository: str = ""
    full_command: str = ""
    incremental_command: str = ""
    """Empty: incremental builds run `full_command` too (with SQ_BASELINE set)."""
    max_concurrent: int = 1
    gate_wait_delay_ms: int = 5000
    max_validation_ms: int = 7_200_000
    build_timeout_s: float = 1800.0
    poll_interval_s: float = 30.0
    projects: tuple[ProjectSetup, ...] = ()

    def project(self, name: str) -> ProjectSetup:
        for project in self.projects:
            if project.name == name:
                return project
        raise UnknownProjectError(f"queue {self.name!r} has no project {name!r}")


class UnknownProjectError(LookupError):
    pass


class UnknownQueueError(LookupError):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Deps:
    storage: SqlStorage
    source_control: SourceControlFactory
    runner: BuildRunner
    counter: Counter
    queues: Mapping[str, QueueSetup] = field(default_factory=dict)
    runners: Mapping[str, BuildRunner] = field(default_factory=dict)
    """Per-queue runners overriding `runner`."""
    clock: Clock = field(default_factory=SystemClock)
    poll_accepted_s: float = 5.0
    poll_running_s: float = 2.0
    any_queue: bool = False
    """Accept queue names that are not configured (demo and tests), with default setup."""
    mappers: Mapping[str, ProjectMapper] = field(default_factory=dict)
    """Per queue with projects: who owns which paths."""
    analyze_poll_s: float | None = None
    """How often analyze checks on its project builds; None: `poll_running_s`."""
    hooks: HookDeps = field(default_factory=default_hook_deps)
    runs: BuildRuns | None = None
    """Where builds' runner state is shared between instances; None keeps it in the runners
    alone (one process, as in most tests)."""

    def queue(self, name: str) -> QueueSetup:
        found = self.queues.get(name)
        if found is not None:
            return found
        if self.any_queue and valid_queue_name(name):
            return QueueSetup(name=name)
        raise UnknownQueueError(f"unknown queue {name!r}")

    def mapper_for(self, queue: str) -> ProjectMapper | None:
        """Who owns which paths of the queue; None for a queue without projects."""
        return self.mappers.get(queue)

    def runner_for(self, queue: str) -> BuildRunner:
        return self.runners.get(queue, self.runner)

    def check_queue(self, name: str) -> None:
        self.queue(name)
        try:
            self.source_control.for_queue(name)
        except NotFoundError as exc:
            raise UnknownQueueError(str(exc)) from exc
