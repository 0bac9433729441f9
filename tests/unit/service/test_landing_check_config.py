"""The per-queue `landing` setting: `exact` unless a queue asks for `disjoint`, read from sq.yaml
and handed to the queue's profile (which the merge stage sends to runway); an unknown value is
one clear line; a queue whose independent lanes would rebuild after each other is flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.api import runway as rw
from sq.platform import migrations
from sq.platform.config import ConfigError, load_settings
from sq.platform.db import create_engine
from sq.service.gateway import queue_info
from sq.service.orchestrator import exact_lanes, profiles_for
from sq.service.settings import Settings
from sq.service.settings_submitqueue import QueueConfig
from sq.submitqueue.extension.conflictanalyzer.all import AllConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import PathOverlapConflictAnalyzer
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema


def _load(tmp_path: Path, queue: str) -> Settings:
    path = tmp_path / "sq.yaml"
    path.write_text("submitqueue:\n  queues:\n    - {name: q" + queue + "}\n")
    return load_settings(Settings, path)


def _check(tmp_path: Path, queue: str) -> rw.LandingCheck:
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    queues = _load(tmp_path, queue).submitqueue.queues
    [profile] = profiles_for(queues, OrchestratorStorage(engine), tmp_path)
    return profile.landing_check


def test_landing_is_exact_unless_a_queue_asks_for_disjoint(tmp_path: Path) -> None:
    assert _check(tmp_path, "") is rw.LandingCheck.EXACT
    assert _check(tmp_path, ", landing: disjoint") is rw.LandingCheck.DISJOINT


def test_an_unknown_value_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, ", landing: loose")
    problems = [p.strip() for p in str(caught.value).splitlines()[1:]]
    assert problems == ["submitqueue.queues.0.landing: Input should be 'exact' or 'disjoint'"]


def test_a_landing_from_an_older_orchestrator_is_exact() -> None:
    request = rw.MergeRequest.model_validate({"id": "b", "queue_name": "q", "steps": []})
    assert request.landing_check is rw.LandingCheck.EXACT


def test_only_real_exact_queues_with_independent_lanes_are_flagged() -> None:
    def queue(name: str, **fields: str) -> QueueConfig:
        return QueueConfig.model_validate(
            {"name": name, "provider": "git", "repository": "/r", **fields}
        )

    queues = [
        queue("lanes", conflict_analyzer="pathoverlap"),
        queue("none", conflict_analyzer="none"),
        queue("serial", conflict_analyzer="all"),
        queue("disjoint", conflict_analyzer="pathoverlap", landing="disjoint"),
        QueueConfig(name="fake", conflict_analyzer="pathoverlap"),
    ]
    assert [q.name for q in exact_lanes(queues)] == ["lanes", "none"]


def test_an_exact_queue_orders_every_change_but_batches_by_its_own_analyzer(
    tmp_path: Path,
) -> None:
    """Exact landing cannot land independent lanes side by side, so dependency analysis orders
    every change (`all`); which waiting changes a batch keeps apart stays the configured
    analyzer's call. A disjoint queue, and a fake one, keep their analyzer for both."""
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())

    def queue(name: str, **fields: str) -> QueueConfig:
        return QueueConfig.model_validate(
            {"name": name, "provider": "git", "repository": "/r", **fields}
        )

    queues = [
        queue("exact", conflict_analyzer="pathoverlap"),
        queue("disjoint", conflict_analyzer="pathoverlap", landing="disjoint"),
        QueueConfig(name="fake", conflict_analyzer="pathoverlap"),
    ]
    exact, disjoint, fake = profiles_for(queues, OrchestratorStorage(engine), tmp_path)
    assert isinstance(exact.analyzer, AllConflictAnalyzer)
    assert isinstance(exact.separating_analyzer, PathOverlapConflictAnalyzer)
    for profile in (disjoint, fake):
        assert isinstance(profile.analyzer, PathOverlapConflictAnalyzer)
        assert profile.separating_analyzer is None


def test_the_gateway_shows_which_analyzer_gives_the_dependencies() -> None:
    """`GET /api/v1/queues/{queue}` carries the configured `conflict_analyzer` and, beside it,
    the one dependency analysis follows: `all` on an exact queue that orders every change."""
    exact = QueueConfig.model_validate(
        {"name": "q", "provider": "git", "repository": "/r", "conflict_analyzer": "pathoverlap"}
    )
    disjoint = exact.model_copy(update={"landing": rw.LandingCheck.DISJOINT})
    shown = [queue_info(q).settings for q in (exact, disjoint)]
    assert [(s["conflict_analyzer"], s["dependency_analyzer"]) for s in shown] == [
        ("pathoverlap", "all"),
        ("pathoverlap", "pathoverlap"),
    ]
