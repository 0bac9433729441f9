"""What Stovepipe's controllers share: storage, seams, the queues' setup and the poll cadence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sq.platform.build import BuildRunner
from sq.platform.clock import Clock, SystemClock
from sq.platform.counter import Counter
from sq.stovepipe.extension.sourcecontrol import NotFoundError, SourceControlFactory
from sq.stovepipe.storage import SqlStorage


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

    def queue(self, name: str) -> QueueSetup:
        found = self.queues.get(name)
        if found is not None:
            return found
        if self.any_queue and name:
            return QueueSetup(name=name)
        raise UnknownQueueError(f"unknown queue {name!r}")

    def runner_for(self, queue: str) -> BuildRunner:
        return self.runners.get(queue, self.runner)

    def check_queue(self, name: str) -> None:
        self.queue(name)
        try:
            self.source_control.for_queue(name)
        except NotFoundError as exc:
            raise UnknownQueueError(str(exc)) from exc
