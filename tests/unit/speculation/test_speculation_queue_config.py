"""Per-queue speculation settings: the scorer, its default probability, pathoverlap's depth."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.config import ConfigError, load_settings
from sq.platform.db import create_engine
from sq.service.orchestrator import profiles_for
from sq.service.settings import Settings
from sq.service.settings_submitqueue import QueueConfig
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import PathOverlapConflictAnalyzer
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.scorer.heuristic import HeuristicScorer
from sq.submitqueue.extension.scorer.history import HistoryScorer
from sq.submitqueue.extension.scorer.members import MemberProductScorer
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.extension.speculator.value import DEFAULT_HYSTERESIS, ValueSpeculator
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema


def _load(tmp_path: Path, queue: str) -> Settings:
    path = tmp_path / "sq.yaml"
    path.write_text("submitqueue:\n  queues:\n    - {name: q, " + queue + "}\n")
    return load_settings(Settings, path)


@pytest.mark.parametrize(
    ("queue", "line"),
    [
        (
            "scorer: oracle",
            "submitqueue.queues.0.scorer: Input should be 'constant', 'heuristic' or 'history'",
        ),
        (
            "default_probability: 1.5",
            "submitqueue.queues.0.default_probability: Input should be less than or equal to 1",
        ),
        (
            "conflict_analyzer: pathoverlap, conflict_analyzer_depth: -1",
            "submitqueue.queues.0.conflict_analyzer_depth: Input should be greater than or equal "
            "to 0",
        ),
        (
            "speculator: bold",
            "submitqueue.queues.0.speculator: Input should be 'standard' or 'value'",
        ),
        (
            "speculator: standard, speculation_threshold: 0.5",
            "submitqueue.queues.0: Value error, queue 'q': speculation_threshold and "
            "speculation_hysteresis apply only to speculator value, not standard",
        ),
        (
            "speculator: value, speculation_hysteresis: 0.5",
            "submitqueue.queues.0.speculation_hysteresis: Input should be greater than or equal "
            "to 1",
        ),
        (
            "conflict_analyzer_depth: 2",
            "submitqueue.queues.0: Value error, queue 'q': conflict_analyzer_depth applies only "
            "to conflict_analyzer pathoverlap, not all",
        ),
    ],
)
def test_a_bad_queue_setting_is_one_clear_line(tmp_path: Path, queue: str, line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, queue)
    problems = str(caught.value).splitlines()[1:]
    assert [p.strip() for p in problems] == [line]


def test_defaults_are_the_history_scorer_and_the_parent_directory() -> None:
    config = QueueConfig(name="q")
    assert (config.scorer, config.default_probability) == ("history", 0.95)
    assert config.conflict_analyzer_depth is None


@pytest.fixture
def storage(tmp_path: Path) -> OrchestratorStorage:
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    return OrchestratorStorage(engine)


def _profile(storage: OrchestratorStorage, tmp_path: Path, **config: object):  # type: ignore[no-untyped-def]
    [profile] = profiles_for([QueueConfig(name="q", **config)], storage, tmp_path)  # type: ignore[arg-type]
    return profile


@pytest.mark.parametrize(
    ("scorer", "kind"),
    [("constant", ConstantScorer), ("heuristic", HeuristicScorer), ("history", HistoryScorer)],
)
def test_each_scorer_is_wired(
    storage: OrchestratorStorage, tmp_path: Path, scorer: str, kind: type
) -> None:
    profile = _profile(
        storage, tmp_path, scorer=scorer, default_probability=0.7, speculator="standard"
    )
    assert isinstance(profile.speculator, StandardSpeculator)
    # A batch of several scores as the product of its members (batching): the queue's scorer
    # is what scores each member.
    product = profile.speculator.generator._scorer
    assert isinstance(product, MemberProductScorer)
    wired = product.inner
    assert isinstance(wired, kind)
    assert profile.scorer is wired
    assert (profile.outcomes is wired) == (scorer == "history")
    batch = Batch(id=BatchID("q/batch/1"), queue="q", state=BatchState.SPECULATING)
    if scorer in ("constant", "history"):  # no history yet: the prior is the default
        assert wired.score(batch) == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("depth", "a", "b", "conflict"),
    [
        (0, "src/pkg/a.py", "src/pkg/b.py", False),  # files
        (None, "src/pkg/a.py", "src/pkg/b.py", True),  # parent directory
        (None, "src/pkg/a.py", "src/other/a.py", False),
        (1, "src/pkg/a.py", "src/other/a.py", True),  # top-level directory
        (2, "src/pkg/a.py", "src/other/a.py", False),
    ],
)
def test_pathoverlap_depth_is_wired(
    storage: OrchestratorStorage,
    tmp_path: Path,
    depth: int | None,
    a: str,
    b: str,
    conflict: bool,
) -> None:
    profile = _profile(
        storage, tmp_path, conflict_analyzer="pathoverlap", conflict_analyzer_depth=depth
    )
    analyzer = profile.analyzer
    assert isinstance(analyzer, PathOverlapConflictAnalyzer)
    assert (analyzer.key(a) == analyzer.key(b)) == conflict


def test_the_value_speculator_is_chosen_per_queue_with_its_settings(
    storage: OrchestratorStorage, tmp_path: Path
) -> None:
    assert isinstance(_profile(storage, tmp_path).speculator, ValueSpeculator)
    standard = _profile(storage, tmp_path, speculator="standard")
    assert isinstance(standard.speculator, StandardSpeculator)
    value = _profile(
        storage,
        tmp_path,
        speculator="value",
        build_budget=7,
        speculation_threshold=0.25,
        scorer="constant",
    )
    assert isinstance(value.speculator, ValueSpeculator)
    settings = value.speculator.settings
    assert (settings.budget, settings.threshold, settings.hysteresis) == (
        7,
        0.25,
        DEFAULT_HYSTERESIS,
    )
    assert isinstance(value.speculator.scorer, MemberProductScorer)
    assert isinstance(value.speculator.scorer.inner, ConstantScorer)
