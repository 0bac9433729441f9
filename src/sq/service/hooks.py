"""Hook wiring shared by every domain: the sink built from a `hooks:` section, the hook store in
the domain's own database, and one `/api/v1/hooks` router per process over every domain's hooks.

A domain's builder calls `wire_hooks(runtime, source, config, engine)` and then
`construct(queue, deps, wiring.apply(stages), topic_names=wiring.topic_names, …)`, with its deps
holding `wiring.deps` and its stage table holding `hook_stage(...)`.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from fastapi import APIRouter

from sq.platform import migrations
from sq.platform.hooks import (
    HOOK_TOPIC,
    CompositeHookSink,
    HookDeps,
    HookSink,
    LogHookSink,
    WebhookHookSink,
    hook_topic_name,
)
from sq.platform.hooks.sql import SqlHookStore
from sq.platform.messagequeue import RetryPolicy
from sq.platform.pipeline import Stage
from sq.service.hooks_api import HookEndpoint, HookRegistry, hooks_router
from sq.service.runtime import Runtime, WiringError
from sq.service.settings_hooks import HookRetryConfig, HooksConfig, HookSinkConfig

log = structlog.get_logger("sq.hooks")


class HookConfigError(WiringError):
    """A hooks section that cannot be wired (e.g. its secret's variable is unset)."""


def _sink(index: int, config: HookSinkConfig, environ: Mapping[str, str]) -> HookSink:
    name = config.name or (f"webhook[{index}]" if config.type == "webhook" else f"log[{index}]")
    if config.type == "log":
        return LogHookSink(name)
    secret = None
    if config.secret_env is not None:
        secret = environ.get(config.secret_env, "")
        if not secret:
            raise HookConfigError(
                f"hook sink {name}: environment variable {config.secret_env} is not set"
            )
    else:
        log.warning("webhook sink sends unsigned events", sink=name, url=config.url)
    return WebhookHookSink(
        config.url, secret=secret, timeout_s=config.timeout, name=name, headers=config.headers
    )


def build_sink(config: HooksConfig, environ: Mapping[str, str] | None = None) -> HookSink:
    """The configured sinks (one composite when several); none configured is one log sink."""
    env = os.environ if environ is None else environ
    sinks = [_sink(i, c, env) for i, c in enumerate(config.sinks)]
    if not sinks:
        return LogHookSink()
    return sinks[0] if len(sinks) == 1 else CompositeHookSink(sinks)


async def close_sink(sink: HookSink) -> None:
    for child in getattr(sink, "children", ()):
        await close_sink(child)
    close = getattr(sink, "close", None)
    if close is not None:
        await close()


def retry_policy(config: HookRetryConfig) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=config.max_attempts,
        initial_backoff_ms=round(config.initial_backoff * 1000),
        max_backoff_ms=round(config.max_backoff * 1000),
    )


class _SinkCloser:
    def __init__(self, sink: HookSink) -> None:
        self.sink = sink

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await close_sink(self.sink)


@dataclass
class HookWiring:
    deps: HookDeps
    source: str
    retry: RetryPolicy
    routers: list[APIRouter] = field(default_factory=list)
    components: list[Any] = field(default_factory=list)

    @property
    def topic_names(self) -> dict[str, str]:
        return {HOOK_TOPIC: hook_topic_name(self.source)}

    def apply(self, stages: Sequence[Stage[Any]]) -> list[Stage[Any]]:
        """The stage table with the configured retry policy on its hook stage."""
        return [
            replace(s, config={**s.config, "retry": self.retry}) if s.key == HOOK_TOPIC else s
            for s in stages
        ]


_REGISTRIES: weakref.WeakKeyDictionary[Runtime, HookRegistry] = weakref.WeakKeyDictionary()


def wire_hooks(runtime: Runtime, source: str, config: HooksConfig, engine: Any) -> HookWiring:
    """Build `source`'s hooks over its own database `engine` (migrated here). The first domain
    wired in a process also gets the `/api/v1/hooks` router, which serves every domain."""
    migrations.upgrade(engine, migrations.hooks_schema())
    store = SqlHookStore(engine)
    sink = build_sink(config)
    registry = _REGISTRIES.get(runtime)
    routers: list[APIRouter] = []
    if registry is None:
        registry = _REGISTRIES[runtime] = HookRegistry()
        routers.append(hooks_router(registry))
    registry.add(
        HookEndpoint(source=source, store=store, queue=runtime.queue, topic=hook_topic_name(source))
    )
    return HookWiring(
        deps=HookDeps(sink=sink, store=store, clock=runtime.clock),
        source=source,
        retry=retry_policy(config.retry),
        routers=routers,
        components=[_SinkCloser(sink)],
    )
