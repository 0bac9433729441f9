"""The bench-only `twin` provider and runner: loadable from a queue's settings by any process,
each regenerating the same workload, and refused without their section."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from sq.platform.build import BuildRequest, BuildState, BuildStatus, TreeLayer
from sq.service.runway import targets_for
from sq.service.settings import Settings
from sq.service.settings_submitqueue import QueueConfig
from sq.service.settings_twin import TwinConfig
from sq.service.twin import TwinBuildRunner, TwinChangeProvider, change_uri, read_journal
from sq.service.twin import workload_of as twin_workload

TWIN = {
    "scenario": "small",
    "failure_probability": 0.1,
    "seed": 3,
    "warmup_hours": 0.1,
    "window_hours": 1.0,
    "tail_hours": 0.1,
    "factor": 60000.0,
}


def queue(**fields: object) -> QueueConfig:
    return QueueConfig.model_validate({"name": "demo", **fields})


def test_the_twin_kinds_need_their_section_and_the_section_needs_them() -> None:
    with pytest.raises(ValidationError, match="needs a twin section"):
        queue(provider="twin")
    with pytest.raises(ValidationError, match="needs a twin section"):
        queue(build={"runner": "twin"})
    with pytest.raises(ValidationError, match="needs provider or runner twin"):
        queue(twin=TWIN)
    twin = queue(provider="twin", build={"runner": "twin"}, twin=TWIN)
    assert twin.twin is not None and twin.twin.factor == 60000.0


def test_runway_lands_twin_changes_without_a_repository(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"data_dir": tmp_path, "submitqueue": {"queues": [{"name": "demo", "provider": "twin",
         "build": {"runner": "twin"}, "twin": TWIN}]}}
    )  # fmt: skip
    target = targets_for(settings.submitqueue.queues, tmp_path)["demo"]
    assert not target.update_head_branches


def test_every_process_regenerates_the_same_workload_and_conflicts() -> None:
    config = TwinConfig.model_validate(TWIN)
    one, two = twin_workload(config), twin_workload(config)
    assert one.changes == two.changes
    provider = TwinChangeProvider(one)
    pairs = [(a, b) for a in range(len(one.changes)) for b in one.neighbors(a) if a < b]
    assert pairs, "the small team's workload has conflicts"
    a, b = pairs[0]
    shared = {f.path for f in provider.files(a)} & {f.path for f in provider.files(b)}
    assert shared == {f"pair/{a}-{b}"}


def test_a_build_passes_by_the_simulators_rule_and_is_journaled(tmp_path: Path) -> None:
    workload = twin_workload(TwinConfig.model_validate(TWIN))
    good = next(c.index for c in workload.changes if c.good)
    bad = next(c.index for c in workload.changes if not c.good)
    ended: list[BuildStatus] = []

    async def on_finish(_: BuildRequest, status: BuildStatus) -> None:
        ended.append(status)

    journal = tmp_path / "builds.jsonl"
    runner = TwinBuildRunner(workload, 60000.0, on_finish=on_finish, journal=journal)

    def request(build_id: str, *indices: int) -> BuildRequest:
        layers = tuple(TreeLayer(name=change_uri(i), commits=()) for i in indices)
        return BuildRequest(build_id=build_id, repository="", base="", layers=layers)

    async def run() -> None:
        await runner.trigger(request("g", good))
        await runner.trigger(request("gb", bad, good))
        for _ in range(100):
            if len(ended) == 2:
                return
            await asyncio.sleep(0.01)

    asyncio.run(run())
    assert {s.build_id: s.state for s in ended} == {"g": BuildState.PASSED, "gb": BuildState.FAILED}
    builds = {b.build_id: b for b in read_journal(journal)}
    assert builds["g"].included == (good,) and builds["g"].passed is True
    assert builds["gb"].included == (bad, good) and builds["gb"].passed is False
