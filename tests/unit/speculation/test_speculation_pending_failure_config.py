"""The per-queue `pending_failure_depth` setting: 0 by default, read from sq.yaml, handed to the
queue's profile; a value out of range is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.config import ConfigError, load_settings
from sq.platform.db import create_engine
from sq.service.orchestrator import profiles_for
from sq.service.settings import Settings
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema


def _load(tmp_path: Path, queue: str) -> Settings:
    path = tmp_path / "sq.yaml"
    path.write_text("submitqueue:\n  queues:\n    - {name: q" + queue + "}\n")
    return load_settings(Settings, path)


def _depth(tmp_path: Path, queue: str) -> int:
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    queues = _load(tmp_path, queue).submitqueue.queues
    [profile] = profiles_for(queues, OrchestratorStorage(engine), tmp_path)
    return profile.pending_failure_depth


def test_the_depth_is_zero_unless_a_queue_sets_it(tmp_path: Path) -> None:
    assert _depth(tmp_path, "") == 0
    assert _depth(tmp_path, ", pending_failure_depth: 2") == 2


@pytest.mark.parametrize("value", ["-1", "11"])
def test_a_depth_out_of_range_is_one_clear_line(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, f", pending_failure_depth: {value}")
    problems = [p.strip() for p in str(caught.value).splitlines()[1:]]
    assert len(problems) == 1
    assert problems[0].startswith("submitqueue.queues.0.pending_failure_depth: Input should be")
