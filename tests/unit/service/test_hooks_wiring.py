"""Hook configuration and wiring: sinks from `hooks:`, secrets from the environment, one
physical hook topic per domain, one `/api/v1/hooks` router per process."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sq.platform.hooks import (
    HOOK_TOPIC,
    CompositeHookSink,
    LogHookSink,
    WebhookHookSink,
    hook_stage,
)
from sq.service.hooks import HookConfigError, build_sink, retry_policy, wire_hooks
from sq.service.runtime import Runtime
from sq.service.settings import Settings
from sq.service.settings_hooks import HooksConfig


def config(**data: object) -> HooksConfig:
    return HooksConfig.model_validate(data)


def test_no_sinks_means_a_log_sink() -> None:
    assert isinstance(build_sink(HooksConfig()), LogHookSink)


def test_a_webhook_reads_its_secret_from_the_named_variable() -> None:
    hooks = config(sinks=[{"type": "webhook", "url": "http://x/h", "secret_env": "HOOK_KEY"}])
    sink = build_sink(hooks, environ={"HOOK_KEY": "k"})
    assert isinstance(sink, WebhookHookSink)
    assert sink._secret == "k"
    with pytest.raises(HookConfigError, match="HOOK_KEY"):
        build_sink(hooks, environ={})


def test_several_sinks_make_a_composite() -> None:
    hooks = config(sinks=[{"type": "log"}, {"type": "webhook", "url": "https://x/h"}])
    sink = build_sink(hooks, environ={})
    assert isinstance(sink, CompositeHookSink)
    assert [type(c) for c in sink.children] == [LogHookSink, WebhookHookSink]


@pytest.mark.parametrize(
    "sink",
    [
        {"type": "webhook"},
        {"type": "webhook", "url": "ftp://x"},
        {"type": "log", "url": "http://x"},
        {"type": "webhook", "url": "http://x", "secret_env": "not a name"},
        {"type": "carrier-pigeon"},
        {"type": "webhook", "url": "http://x", "secret": "inline secrets are refused"},
    ],
)
def test_invalid_sinks_are_refused(sink: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        config(sinks=[sink])


def test_retry_durations_parse() -> None:
    policy = retry_policy(config(retry={"max_attempts": 3, "initial_backoff": "500ms"}).retry)
    assert (policy.max_attempts, policy.initial_backoff_ms, policy.max_backoff_ms) == (
        3,
        500,
        300_000,
    )


def test_domains_get_their_own_topic_and_share_one_router(tmp_path: Path) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path))
    try:
        sq = wire_hooks(runtime, "submitqueue", HooksConfig(), runtime.engine_for("orchestrator"))
        sp = wire_hooks(runtime, "stovepipe", HooksConfig(), runtime.engine_for("stovepipe"))
        assert sq.topic_names == {HOOK_TOPIC: "submitqueue_hook"}
        assert sp.topic_names == {HOOK_TOPIC: "stovepipe_hook"}
        assert len(sq.routers) == 1
        assert sp.routers == []
        stage = hook_stage(consumer_group="x-hook", hooks=lambda d: d)
        (applied,) = sq.apply([stage])
        assert applied.config["retry"] == sq.retry == retry_policy(HooksConfig().retry)
    finally:
        runtime.dispose()
