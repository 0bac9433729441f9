"""The per-queue `batching` section: off by default (one request per batch), read from sq.yaml,
handed to the queue's profile as a `BatchPolicy`; a bad value is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.config import ConfigError, load_settings
from sq.platform.db import create_engine
from sq.service.orchestrator import profiles_for
from sq.service.settings import Settings
from sq.submitqueue.core.batching import BatchPolicy, DeepBatching, SplitRule
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema


def _load(tmp_path: Path, queue: str) -> Settings:
    path = tmp_path / "sq.yaml"
    path.write_text("submitqueue:\n  queues:\n    - {name: q" + queue + "}\n")
    return load_settings(Settings, path)


def _policy(tmp_path: Path, queue: str) -> BatchPolicy:
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    queues = _load(tmp_path, queue).submitqueue.queues
    [profile] = profiles_for(queues, OrchestratorStorage(engine), tmp_path)
    assert profile.scorer is not None  # formation scores each waiting request with it
    return profile.batching


def test_batching_is_off_unless_a_queue_sets_it(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "")
    assert policy == BatchPolicy()
    assert not policy.enabled


def test_the_section_becomes_the_queue_policy(tmp_path: Path) -> None:
    section = ", batching: {max_size: 4, max_wait: 2m, min_pass_probability: 0.5, split: halves}"
    assert _policy(tmp_path, section) == BatchPolicy(
        max_size=4, max_wait_ms=120_000, min_pass_probability=0.5, split=SplitRule.HALVES
    )


def test_who_may_share_a_batch_reaches_the_queue_policy(tmp_path: Path) -> None:
    section = (
        ", batching: {max_size: 6, max_wait: 2m, max_dependencies: 3, separate_conflicting: true}"
    )
    assert _policy(tmp_path, section) == BatchPolicy(
        max_size=6, max_wait_ms=120_000, max_dependencies=3, separate_conflicting=True
    )


def test_deep_batching_counts_arrivals_against_the_build_budget(tmp_path: Path) -> None:
    section = ", build_budget: 8, batching: {max_size: 6, deep: {build_time: 30m, load: 1.5}}"
    policy = _policy(tmp_path, section)
    assert policy.deep == DeepBatching(build_time_ms=1_800_000, arrivals=12.0)
    assert (policy.deep.max_size, policy.deep.max_wait_ms, policy.deep.max_dependencies) == (
        2,
        30_000,
        None,
    )


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ("{max_size: 0}", "max_size"),
        ("{max_wait: -1}", "max_wait"),
        ("{min_pass_probability: 1.5}", "min_pass_probability"),
        ("{split: random}", "split"),
        ("{max_dependencies: -1}", "max_dependencies"),
        ("{separate_conflicting: maybe}", "separate_conflicting"),
        ("{deep: {load: 2}}", "deep.build_time"),
        ("{deep: {build_time: 10m, load: 0}}", "deep.load"),
        ("{deep: {build_time: 10m, load: .inf}}", "deep.load"),
        ("{deep: {build_time: 0.5}}", "deep.build_time"),
        ("{deep: {build_time: 10m, max_size: 0}}", "deep.max_size"),
        ("{size: 4}", "size"),
    ],
)
def test_a_bad_value_is_one_clear_line(tmp_path: Path, section: str, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f", batching: {section}")
    problems = [p.strip() for p in str(caught.value).splitlines()[1:]]
    assert len(problems) == 1
    assert problems[0].startswith(f"submitqueue.queues.0.batching.{field}:")
