"""The per-queue `early_landing` setting: off by default, read from sq.yaml, handed to the
queue's profile (which the speculate controller passes to finalize)."""

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


def _early(tmp_path: Path, queue: str) -> bool:
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    queues = _load(tmp_path, queue).submitqueue.queues
    [profile] = profiles_for(queues, OrchestratorStorage(engine), tmp_path)
    return profile.early_landing


def test_early_landing_is_off_unless_a_queue_asks_for_it(tmp_path: Path) -> None:
    assert _early(tmp_path, "") is False
    assert _early(tmp_path, ", early_landing: true") is True


def test_a_bad_value_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, ", early_landing: maybe")
    problems = [p.strip() for p in str(caught.value).splitlines()[1:]]
    assert len(problems) == 1
    assert problems[0].startswith(
        "submitqueue.queues.0.early_landing: Input should be a valid boolean"
    )
