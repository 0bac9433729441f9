"""Wiring of the gateway service: its database, the `log` stage, and the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sq.platform import migrations
from sq.platform.counter import Counter
from sq.platform.pipeline import Pipeline, Stage, construct
from sq.service.controls_api import controls_router
from sq.service.github.wiring import github_gateway_parts
from sq.service.runtime import Runtime, ServiceParts, register
from sq.service.settings_submitqueue import QueueConfig, SubmitQueueSettings
from sq.submitqueue.core.controls_sql import ControlStore
from sq.submitqueue.core.messages import TOPIC_CANCEL, TOPIC_CONTROL, TOPIC_LOG, TOPIC_START
from sq.submitqueue.gateway.api import build_router
from sq.submitqueue.gateway.controls import QueueControls
from sq.submitqueue.gateway.logsink import LogController, LogReconciler
from sq.submitqueue.gateway.materializer import Materializer
from sq.submitqueue.gateway.metrics import gateway_collector
from sq.submitqueue.gateway.service import Gateway
from sq.submitqueue.gateway.storage import RequestLogStore, schema_set
from sq.submitqueue.gateway.storage.schema import queue_control
from sq.submitqueue.gateway.validation import QueueInfo

CONSUMER_GROUP = "gateway-log"


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayDeps:
    materializer: Materializer


def stages() -> list[Stage[GatewayDeps]]:
    return [
        Stage(
            key=TOPIC_LOG,
            consumer_group=CONSUMER_GROUP,
            new=lambda deps, _: LogController(deps.materializer),
            dlq=lambda deps, _: LogReconciler(deps.materializer),
        )
    ]


class PipelinePublisher:
    """Publishes to the pipeline's topic keys (`start`, `cancel`)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    async def publish(self, key: str, partition_key: str, message_id: str, payload: Any) -> bool:
        topic = self.pipeline.topics.name(key)
        return await self.pipeline.queue.publish(topic, partition_key, message_id, payload)


def queue_info(config: QueueConfig) -> QueueInfo:
    return QueueInfo(
        name=config.name,
        provider=config.provider,
        strategy=config.strategy,
        settings=config.model_dump(mode="json")
        | {"dependency_analyzer": config.dependency_analyzer},
    )


def build_gateway(runtime: Runtime, settings: SubmitQueueSettings) -> tuple[Gateway, Pipeline]:
    engine = runtime.engine_for(
        "gateway",
        schema_set(),
        migrations.counter_schema(),
        url=settings.gateway_database_url,
    )
    store = RequestLogStore(engine)
    counter = Counter(engine)
    materializer = Materializer(store)
    pipeline = construct(
        runtime.queue,
        GatewayDeps(materializer=materializer),
        stages(),
        publish_only=[TOPIC_START, TOPIC_CANCEL, TOPIC_CONTROL],
        gate=runtime.gate,
        base_config=runtime.settings.mq.subscription_overrides(),
    )
    gateway = Gateway(
        store=store,
        queues={q.name: queue_info(q) for q in settings.queues},
        publisher=PipelinePublisher(pipeline),
        next_number=lambda queue: counter.next(queue, "request"),
        clock=runtime.clock,
    )
    return gateway, pipeline


def wire_controls(gateway: Gateway, pipeline: Pipeline) -> QueueControls:
    """Pause/resume/drain for the gateway's queues; a draining queue refuses new requests."""
    controls = QueueControls(
        ControlStore(gateway.store.engine, queue_control),
        gateway.queues,
        PipelinePublisher(pipeline),
        gateway.clock,
    )
    gateway.admits = controls.check_accepts
    return controls


@register("gateway")
def gateway_service(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings.submitqueue
    gateway, pipeline = build_gateway(runtime, settings)
    github_routers, github_components = github_gateway_parts(runtime, gateway)
    controls = wire_controls(gateway, pipeline)
    return ServiceParts(
        name="gateway",
        routers=[build_router(gateway), controls_router(controls), *github_routers],
        components=[pipeline, *github_components],
        collectors=[gateway_collector(gateway.store.engine, runtime.clock.now_ms)],
    )
