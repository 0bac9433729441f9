"""A service's pipeline, declared as a stage table and built by one engine (platform-spec §4.3).

Each stage names a topic key, a consumer group, a controller factory and a DLQ reconciler factory.
`construct` derives every subscription, pairs each topic with `<topic>_dlq` read by `<group>-dlq`
(retrying forever, with no DLQ of its own), builds every controller eagerly so a missing
dependency fails at start naming its stage, and returns one component to start and stop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from sq.platform import errs
from sq.platform.consumer import Controller, controller_handler, window_handler
from sq.platform.consumer.gate import Gate, NoopGate
from sq.platform.messagequeue import MessageQueue, Subscription, SubscriptionConfig
from sq.platform.messagequeue.model import DLQ_SUFFIX, TOPIC_NAME

D = TypeVar("D")


class PipelineError(Exception):
    """The stage table is wrong, or a stage's controller could not be built."""


class TopicRegistry:
    """Logical topic keys to physical topic names; shared by consumers and publishers."""

    def __init__(self, names: Mapping[str, str]) -> None:
        for key, name in names.items():
            if not TOPIC_NAME.match(name):
                raise PipelineError(f"topic {key!r}: invalid physical name {name!r}")
        self._names = dict(names)

    def name(self, key: str) -> str:
        try:
            return self._names[key]
        except KeyError:
            raise PipelineError(f"topic key {key!r} is not registered") from None

    def keys(self) -> list[str]:
        return list(self._names)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageContext:
    queue: MessageQueue
    topics: TopicRegistry
    topic_key: str
    consumer_group: str

    async def publish(
        self,
        key: str,
        partition_key: str,
        message_id: str,
        payload: Any,
        metadata: Mapping[str, str] | None = None,
    ) -> bool:
        """Publish to a registered topic key; False when the id was already stored."""
        return await self.queue.publish(
            self.topics.name(key), partition_key, message_id, payload, metadata
        )


Factory = Callable[[D, StageContext], Controller]


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage(Generic[D]):
    key: str
    consumer_group: str
    new: Factory[D]
    dlq: Factory[D] | None
    config: Mapping[str, Any] = field(default_factory=dict)
    """Overrides of `SubscriptionConfig` fields for this stage (batch size, visibility …)."""


@dataclass(slots=True)
class _Binding:
    topic: str
    config: SubscriptionConfig
    controller: Controller
    always_retry: bool


class Pipeline:
    def __init__(
        self,
        queue: MessageQueue,
        bindings: list[_Binding],
        gate: Gate,
        classifiers: Sequence[errs.Classifier],
        topics: TopicRegistry,
    ) -> None:
        self.queue = queue
        self.topics = topics
        self._bindings = bindings
        self._gate = gate
        self._classifiers = classifiers
        self._subscriptions: list[Subscription] = []

    @property
    def controllers(self) -> dict[str, Controller]:
        return {b.topic: b.controller for b in self._bindings}

    async def start(self) -> None:
        """Subscribe every stage (primaries, then DLQ reconcilers); all or nothing."""
        try:
            for binding in self._bindings:
                handler = controller_handler(
                    binding.controller,
                    consumer_group=binding.config.consumer_group,
                    classifiers=self._classifiers,
                    gate=self._gate,
                    always_retry=binding.always_retry,
                )
                window = (
                    None
                    if binding.always_retry
                    else window_handler(
                        binding.controller,
                        consumer_group=binding.config.consumer_group,
                        classifiers=self._classifiers,
                        gate=self._gate,
                    )
                )
                self._subscriptions.append(
                    await self.queue.subscribe(
                        binding.topic, binding.config, handler, window_handler=window
                    )
                )
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop in reverse: DLQ reconcilers first, then the stages."""
        while self._subscriptions:
            await self.queue.unsubscribe(self._subscriptions.pop())


def construct(
    queue: MessageQueue,
    deps: D,
    stages: Sequence[Stage[D]],
    *,
    topic_names: Mapping[str, str] | None = None,
    publish_only: Sequence[str] = (),
    classifiers: Sequence[errs.Classifier] = errs.DEFAULT_CLASSIFIERS,
    gate: Gate | None = None,
    base_config: Mapping[str, Any] | None = None,
) -> Pipeline:
    if not stages:
        raise PipelineError("a pipeline needs at least one stage")
    overrides = dict(topic_names or {})
    names: dict[str, str] = {}
    for key in [s.key for s in stages] + list(publish_only):
        if key in names:
            raise PipelineError(f"topic key {key!r} is declared twice")
        names[key] = overrides.get(key, key)
    for stage in stages:
        names[stage.key + DLQ_SUFFIX] = names[stage.key] + DLQ_SUFFIX
    topics = TopicRegistry(names)
    bindings: list[_Binding] = []
    dlq_bindings: list[_Binding] = []
    for stage in stages:
        if stage.dlq is None:
            raise PipelineError(f"stage {stage.key!r} has no DLQ reconciler")
        try:
            config = replace(
                SubscriptionConfig(consumer_group=stage.consumer_group),
                **{**(base_config or {}), **stage.config},
            )
        except (TypeError, ValueError) as exc:
            raise PipelineError(f"stage {stage.key!r}: {exc}") from exc
        dlq_config = config.for_dlq()
        context = StageContext(
            queue=queue, topics=topics, topic_key=stage.key, consumer_group=config.consumer_group
        )
        dlq_context = replace(
            context, topic_key=stage.key + DLQ_SUFFIX, consumer_group=dlq_config.consumer_group
        )
        for label, factory, ctx in (
            ("controller", stage.new, context),
            ("DLQ reconciler", stage.dlq, dlq_context),
        ):
            try:
                controller = factory(deps, ctx)
            except Exception as exc:
                raise PipelineError(
                    f"stage {stage.key!r}: cannot build its {label}: {exc}"
                ) from exc
            if ctx is context:
                bindings.append(_Binding(topics.name(stage.key), config, controller, False))
            else:
                dlq_bindings.append(
                    _Binding(topics.name(stage.key + DLQ_SUFFIX), dlq_config, controller, True)
                )
    return Pipeline(queue, bindings + dlq_bindings, gate or NoopGate(), classifiers, topics)
