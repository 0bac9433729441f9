"""The whole SubmitQueue pipeline (orchestrator + runway) in one process, on the in-memory queue,
with the fake change provider, a holdable fake build runner and a chosen merger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sq.api import runway as rw
from sq.platform import migrations
from sq.platform.build import BuildState
from sq.platform.build.fake import FakeBuildRunner
from sq.platform.clock import Clock
from sq.platform.db import create_engine
from sq.platform.hooks import HookDeps, HookEvent, MemoryHookStore
from sq.platform.messagequeue import Delivery
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import construct
from sq.runway.controller.deps import RunwayDeps, RunwayTarget
from sq.runway.extension.merger import Merger
from sq.runway.extension.merger.noop import NoopMerger
from sq.runway.pipeline import PUBLISH_ONLY as RUNWAY_PUBLISH
from sq.runway.pipeline import STAGES as RUNWAY_STAGES
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.batching import BatchPolicy
from sq.submitqueue.entity.batch import BatchState, Priority
from sq.submitqueue.extension.changeprovider.fake import FakeChangeProvider
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.all import AllConflictAnalyzer
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.scorer.history import HistoryConfig, HistoryScorer
from sq.submitqueue.extension.scorer.members import MemberProductScorer
from sq.submitqueue.extension.speculator import Speculator
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.orchestrator.buildruns import BuildRuns
from sq.submitqueue.orchestrator.changes import BatchChanges
from sq.submitqueue.orchestrator.pipeline import PUBLISH_ONLY, STAGES, TOPIC_NAMES
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, Profiles, QueueProfile
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema
from sq.submitqueue.orchestrator.storage.outcomes import SqlOutcomeStore
from support.mq import Harness, settle

QUEUE = "q"
TERMINAL = {"landed", "error", "cancelled"}
QUIET_MS = 5_000
"""The longest build poll interval (`accepted` builds): at rest once this long passed quietly."""
STEP_MS = 5_000


class LogSink:
    def __init__(self) -> None:
        self.entries: list[m.RequestLog] = []
        self.partitions: dict[str, set[str]] = {}
        """The `log` partitions each request's messages came on."""
        self._keys: set[tuple[str, str]] = set()

    async def __call__(self, delivery: Delivery) -> None:
        """Keeps each entry once per key, as the gateway does; several may share a message."""
        message = m.RequestLog.model_validate(delivery.json())
        self.partitions.setdefault(message.request_id, set()).add(delivery.partition_key)
        first = message.model_copy(update={"key": "", "more": ()})
        entries = [(message.key or delivery.message_id, first)]
        for item in message.more:
            fields = item.model_dump(exclude={"key"})
            entry = m.RequestLog(request_id=message.request_id, queue=message.queue, **fields)
            entries.append((item.key, entry))
        for key, entry in entries:
            if (entry.request_id, key) not in self._keys:
                self._keys.add((entry.request_id, key))
                self.entries.append(entry)
        delivery.ack()

    def statuses(self, request_id: str) -> list[str]:
        return [e.status for e in self.entries if e.request_id == request_id and e.type == "status"]

    def events(self, request_id: str) -> list[str]:
        return [e.event for e in self.entries if e.request_id == request_id and e.type == "event"]

    def final(self, request_id: str) -> str | None:
        done = [s for s in self.statuses(request_id) if s in TERMINAL]
        return done[-1] if done else None

    def last_error(self, request_id: str) -> str:
        errors = [e.last_error for e in self.entries if e.request_id == request_id and e.last_error]
        return errors[-1] if errors else ""


class HookRecorder:
    """A hook sink that keeps every event it is handed, in order."""

    def __init__(self) -> None:
        self.events: list[HookEvent] = []

    async def handle(self, event: HookEvent) -> None:
        self.events.append(event)

    def of(self, request_id: str) -> list[str]:
        return [e.type for e in self.events if e.subject == request_id]


class Stack:
    def __init__(
        self,
        tmp: Path,
        *,
        budget: int = 4,
        analyzer: ConflictAnalyzer | None = None,
        merger: Merger | None = None,
        analyzer_for: Callable[[OrchestratorStorage], ConflictAnalyzer] | None = None,
        separating_for: Callable[[OrchestratorStorage], ConflictAnalyzer] | None = None,
        probability: float = 0.9,
        history: bool = False,
        speculator: Callable[[Scorer, int, Clock], Speculator] | None = None,
        instances: int = 1,
        early_landing: bool = False,
        flaky_retries: int = 0,
        pending_failure_depth: int = 0,
        target_head: Callable[[], Awaitable[str]] | None = None,
        batching: BatchPolicy | None = None,
        reports_end: bool = False,
    ) -> None:
        """`instances` > 1 runs that many orchestrators on one database and queue, each with its
        own runner and build runs, as separate processes would (the first is `self.runner`)."""
        self.store = MemoryQueueStore()
        self.h = Harness(self.store)
        engine = create_engine(f"sqlite:///{tmp / 'orchestrator.db'}")
        migrations.upgrade(engine, schema(), migrations.counter_schema())
        self.storage = OrchestratorStorage(engine)
        self.merger = merger or NoopMerger()
        chosen = analyzer_for(self.storage) if analyzer_for else analyzer or AllConflictAnalyzer()
        self.scorer: Scorer = ConstantScorer(probability)
        if history:  # learns from this queue's outcomes, starting from `probability`
            self.scorer = HistoryScorer(
                BatchChanges(self.storage).features,
                SqlOutcomeStore(engine, QUEUE),
                HistoryConfig(prior_mean=probability),
            )
        self.hooks = HookRecorder()
        self.peers = [self.h] + [self.h.peer(f"s{i + 1}") for i in range(1, instances)]
        self.runners: list[FakeBuildRunner] = []
        self.runs: list[BuildRuns] = []
        self.orchestrators = []
        self.all_deps: list[OrchestratorDeps] = []
        for index, harness in enumerate(self.peers):
            runs = None
            if instances > 1:
                runs = BuildRuns(
                    self.storage, self.h.clock, owner=f"o{index + 1}", signal=self._signal
                )
                self.runs.append(runs)
            runner = FakeBuildRunner(held=True, on_finish=runs.finished if runs else None)
            self.runners.append(runner)
            profile = QueueProfile(
                name=QUEUE,
                provider=FakeChangeProvider(),
                analyzer=chosen,
                speculator=(
                    speculator(MemberProductScorer(self.scorer), budget, self.h.clock)
                    if speculator
                    else StandardSpeculator(MemberProductScorer(self.scorer), budget)
                ),
                runner=runner,
                outcomes=self.scorer if isinstance(self.scorer, HistoryScorer) else None,
                early_landing=early_landing,
                flaky_retries=flaky_retries,
                pending_failure_depth=pending_failure_depth,
                target_head=target_head,
                batching=batching or BatchPolicy(),
                separating_analyzer=separating_for(self.storage) if separating_for else None,
                scorer=self.scorer,
                reports_end=reports_end,
            )
            deps = OrchestratorDeps(
                storage=self.storage,
                profiles=Profiles([profile]),
                clock=self.h.clock,
                hooks=HookDeps(sink=self.hooks, store=MemoryHookStore(), clock=self.h.clock),
                runs=runs,
            )
            self.all_deps.append(deps)
            self.orchestrators.append(
                construct(
                    harness.queue, deps, STAGES, publish_only=PUBLISH_ONLY, topic_names=TOPIC_NAMES
                )
            )
        self.runner = self.runners[0]
        self.deps = self.all_deps[0]
        self.orchestrator = self.orchestrators[0]
        runway = RunwayDeps(targets=lambda q: RunwayTarget(merger=self.merger))
        self.runway = construct(self.h.queue, runway, RUNWAY_STAGES, publish_only=RUNWAY_PUBLISH)
        self.log = LogSink()
        self.landed: list[str] = []
        self.merge_results: list[rw.MergeResult] = []
        self._n = 0

    async def _signal(self, queue: str, build_id: str, state: BuildState) -> None:
        payload = m.EntityRef(id=build_id, queue=queue)
        await self.h.queue.publish(
            m.TOPIC_BUILDSIGNAL, f"{build_id}#end", f"{build_id}/finished/{state}", payload
        )

    async def start(self) -> None:
        for runs in self.runs:
            await runs.start()
        for orchestrator in self.orchestrators:
            await orchestrator.start()
        await self.runway.start()
        await self.h.consume(m.TOPIC_LOG, "gateway-log", inbox=self.log)  # type: ignore[arg-type]

    async def stop(self) -> None:
        await self.runway.stop()
        for orchestrator in reversed(self.orchestrators):
            await orchestrator.stop()
        for runs in self.runs:
            await runs.stop()

    async def land(
        self,
        name: str,
        *,
        files: str = "",
        fake: str = "",
        stack: int = 1,
        priority: Priority = Priority.NORMAL,
    ) -> str:
        self._n += 1
        request_id = f"{QUEUE}/{self._n}"
        uris = []
        for i in range(stack):
            query = "&".join(
                x
                for x in (f"sq-files={files}" if files else "", f"sq-fake={fake}" if fake else "")
                if x
            )
            suffix = f"/{i}" if stack > 1 else ""
            uris.append(f"fake://example.com/{name}{suffix}" + (f"?{query}" if query else ""))
        land = m.LandRequest(
            id=request_id, queue=QUEUE, change=m.ChangeRef(uris=tuple(uris)), priority=priority
        )
        await self.h.queue.publish(m.TOPIC_START, QUEUE, request_id, land)
        return request_id

    async def cancel(self, request_id: str, reason: str = "") -> None:
        payload = m.CancelRequest(id=request_id, queue=QUEUE, reason=reason)
        await self.h.queue.publish(m.TOPIC_CANCEL, request_id, request_id, payload)

    async def settle(self, most: int = 500, dead_letters: int = 0) -> None:
        """Run until at rest, moving the clock straight to the next time a held or retried
        message is due (at most 5 s at once, so leases are renewed on time).

        Only messages due at the same instant run together, as they would on a real clock: a
        speculate run that settles for 0.1 s never coincides with a build poll held for 2 s. At
        rest, nothing is pending but polls of running builds, and nothing new has been published
        for the longest poll interval, so every build has been polled at least once since.
        `dead_letters` more are expected from now on; one beyond those fails the test.
        """
        self.h.dead_letters_expected += dead_letters
        await self._settle_all()
        clock = self.h.clock
        published, quiet_since = self.published(), clock.now_ms()
        for _ in range(most):
            due, only_polls = self._next_due()
            if due is None or (only_polls and clock.now_ms() - quiet_since >= QUIET_MS):
                return
            clock.advance(min(max(due - clock.now_ms(), 1), STEP_MS) / 1000)
            await self._settle_all()
            if self.published() != published:
                published, quiet_since = self.published(), clock.now_ms()
        raise AssertionError(f"the pipeline did not come to rest in {most} steps")

    async def _settle_all(self) -> None:
        for runner in self.runners:
            await runner.finished()
        await settle(
            *(p.queue for p in self.peers), dead_letters_allowed=self.h.dead_letters_expected
        )

    def _next_due(self) -> tuple[int | None, bool]:
        """When the next held or retried message comes due, and whether only polls wait."""
        now = self.h.clock.now_ms()
        due: int | None = None
        only_polls = True
        for hidden in self.store.hidden(now):
            due = min(due or hidden.until_ms, hidden.until_ms)
            only_polls = only_polls and hidden.topic == m.TOPIC_BUILDSIGNAL
        return due, only_polls

    def published(self) -> int:
        """Messages stored so far, over every topic (a duplicate id stores nothing)."""
        return sum(p.last_seq for t in self.store.topics() for p in self.store.partitions(t))

    def builds(self) -> int:
        return sum(len(r.triggered) for r in self.runners)

    def running_heads(self) -> list[str]:
        return sorted({r.labels["head"] for x in self.runners for r in x.running()})

    async def release(self, **kw: Any) -> None:
        for runner in self.runners:
            runner.release(**kw)
        await self.settle()

    def order_landed(self) -> list[str]:
        """Request ids in the order their `landed` status was logged."""
        return [
            e.request_id for e in self.log.entries if e.type == "status" and e.status == "landed"
        ]

    def batch_state(self, batch_id: str) -> BatchState | None:
        batch = self.storage.get_batch(QUEUE, batch_id)
        return None if batch is None else batch.state

    def dead_letters(self) -> list[tuple[str, str]]:
        return [
            (topic, message.message_id)
            for topic in self.store.topics()
            if topic.endswith("_dlq")
            for message in self.store.messages(topic)
        ]
