"""Stovepipe phase 2 on the in-memory queue: analyze, per-project facts, bookmarks, promotion refs
and hook events (doc/stovepipe.md "Projects")."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.stovepipe.controller.events import COMMIT_GREEN, COMMIT_RED, PROMOTION_MOVED
from sq.stovepipe.deps import ProjectSetup, QueueSetup
from sq.stovepipe.entity.project import AnalysisState
from sq.stovepipe.extension.projectmapper.glob import GlobProjectMapper
from sq.stovepipe.storage import NotFoundError
from support.stovepipe import Q, Stovepipe

pytestmark = pytest.mark.anyio

PROJECTS = ("a", "b", "c")


async def started(tmp_path: Path, commands: dict[str, str] | None = None) -> Stovepipe:
    commands = {p: f"make -C {p}" for p in PROJECTS} if commands is None else commands
    setup = QueueSetup(
        name=Q,
        full_command="make",
        projects=tuple(ProjectSetup(name=p, command=commands.get(p, "")) for p in PROJECTS),
    )
    mapper = GlobProjectMapper({p: [f"{p}/"] for p in PROJECTS})
    sp = Stovepipe(tmp_path, setup=setup, mapper=mapper)
    sp.sc.refs.update({p: f"refs/heads/verified-{p}" for p in PROJECTS})
    return await sp.start()


async def commit(sp: Stovepipe, uri: str, *paths: str, outcome: BuildState | None = None) -> str:
    if outcome is not None:
        sp.runner.outcomes[uri] = outcome
    sp.sc.push(uri, files=paths)
    rid = (await sp.ingester.ingest(Q)).id
    await sp.settle()
    return rid


def degrees(sp: Stovepipe, uri: str) -> dict[str, float]:
    return {p: f.degree for p, f in sp.store.facts_at(Q, uri).items()}


def project_green(sp: Stovepipe, project: str) -> str:
    try:
        return sp.store.get_project_head(Q, project).last_green_uri
    except NotFoundError:
        return ""


async def test_a_green_commit_makes_every_project_green_without_a_build(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    await commit(sp, "A", "a/x.py", "README")
    assert degrees(sp, "A") == {"": 0.0, "a": 0.0, "b": 0.0, "c": 0.0}
    assert sp.runner.heads_built == ["A"]
    assert [project_green(sp, p) for p in PROJECTS] == ["A", "A", "A"]
    assert {p: sp.sc.promotions[p] for p in ("", *PROJECTS)} == {p: ["A"] for p in ("", *PROJECTS)}
    green = sp.events.of(COMMIT_GREEN)
    assert sorted(e["project"] for e in green) == ["", "a", "b", "c"]
    assert all(e["subject"] == f"{Q}/A" and e["uri"] == "A" for e in green)
    moved = sp.events.of(PROMOTION_MOVED)
    assert sorted((e["project"], e["old"], e["new"]) for e in moved) == [
        (p, "", "A") for p in ("", *PROJECTS)
    ]
    await sp.stop()


async def test_a_commit_that_breaks_only_b_is_attributed_to_b(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    await commit(sp, "A", "a/x", "b/x", "c/x")
    sp.runner.outcomes["B#b"] = BuildState.FAILED
    rid = await commit(sp, "B", "b/y", outcome=BuildState.FAILED)
    await sp.advance(2)  # analyze polls its project build
    assert degrees(sp, "B") == {"": pytest.approx(1 / 3), "a": 0.0, "b": 1.0, "c": 0.0}
    assert sp.runner.heads_built == ["A", "B", "B#b"]  # only the affected project was built
    assert [project_green(sp, p) for p in PROJECTS] == ["B", "A", "B"]
    assert sp.sc.promotions["a"] == sp.sc.promotions["c"] == ["A", "B"]
    assert sp.sc.promotions["b"] == ["A"]
    assert sp.queue().last_green_uri == "A"
    assert sp.store.get_analysis(Q, rid).state == AnalysisState.DONE
    red = sp.events.of(COMMIT_RED)
    assert sorted((e["project"], e["degree"]) for e in red) == [
        ("", pytest.approx(1 / 3)),
        ("b", 1.0),
    ]
    await sp.stop()


async def test_an_unexplained_red_build_widens_to_every_project(tmp_path: Path) -> None:
    """b was touched but its own build passes: nothing is attributed, so a and c are built too;
    c's own build fails."""
    sp = await started(tmp_path)
    await commit(sp, "A", "a/x", "b/x", "c/x")
    sp.runner.outcomes["B#c"] = BuildState.FAILED
    rid = await commit(sp, "B", "b/y", outcome=BuildState.FAILED)
    await sp.advance(2)
    assert sp.store.get_analysis(Q, rid).state == AnalysisState.WIDENED
    await sp.advance(2)
    assert sorted(sp.runner.heads_built) == ["A", "B", "B#a", "B#b", "B#c"]
    assert degrees(sp, "B") == {"": pytest.approx(1 / 3), "a": 0.0, "b": 0.0, "c": 1.0}
    assert sp.store.get_analysis(Q, rid).state == AnalysisState.DONE
    await sp.stop()


async def test_a_red_build_no_project_explains_is_fully_broken(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    await commit(sp, "A", "a/x")
    await commit(sp, "B", "Makefile", outcome=BuildState.FAILED)  # touches no project
    for _ in range(2):
        await sp.advance(2)
    assert degrees(sp, "B") == {"": 1.0, "a": 0.0, "b": 0.0, "c": 0.0}
    assert sp.queue().last_green_uri == "A"
    await sp.stop()


async def test_changes_in_a_superseded_commit_count_against_their_project(
    tmp_path: Path,
) -> None:
    """c changed in C1, which was never validated (coalesced away); the red C2 touches only b,
    yet c is built too: its range starts at its own last green."""
    sp = await started(tmp_path)
    await commit(sp, "A", "a/x")
    sp.runner.hold.add("B")
    await commit(sp, "B", "a/y")
    sp.sc.push("C1", files=["c/y"])
    sp.sc.push("C2", files=["b/y"])
    sp.runner.outcomes.update({"C2": BuildState.FAILED, "C2#b": BuildState.FAILED})
    await sp.ingester.ingest(Q)
    sp.runner.finish("B")
    for _ in range(4):
        await sp.advance(5)
    assert sorted(h for h in sp.runner.heads_built if h.startswith("C2#")) == ["C2#b", "C2#c"]
    assert degrees(sp, "C2") == {"": pytest.approx(1 / 3), "a": 0.0, "b": 1.0, "c": 0.0}
    await sp.stop()


async def test_a_project_without_a_build_fails_closed_when_it_needs_one(tmp_path: Path) -> None:
    sp = await started(tmp_path, commands={"a": "make -C a", "c": "make -C c"})
    await commit(sp, "A", "a/x")
    await commit(sp, "B", "b/y", outcome=BuildState.FAILED)
    for _ in range(2):
        await sp.advance(2)
    # b cannot be built, which explains nothing: a and c are built on their own and pass
    assert sorted(sp.runner.heads_built) == ["A", "B", "B#a", "B#c"]
    assert degrees(sp, "B") == {"": pytest.approx(1 / 3), "a": 0.0, "b": 1.0, "c": 0.0}
    await sp.stop()


async def test_a_project_build_that_cannot_start_fails_its_project_closed(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    await commit(sp, "A", "a/x")
    sp.runner.trigger_errors["B#b"] = ValueError("no such directory")
    sp.h.dead_letters_expected += 1  # project b's build, failed closed by its reconciler
    await commit(sp, "B", "b/y", outcome=BuildState.FAILED)
    for _ in range(2):
        await sp.advance(2)
    assert degrees(sp, "B") == {"": pytest.approx(1 / 3), "a": 0.0, "b": 1.0, "c": 0.0}
    await sp.stop()


async def test_cold_start_red_builds_every_project(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    sp.runner.outcomes["A#a"] = BuildState.FAILED
    await commit(sp, "A", "a/x", outcome=BuildState.FAILED)
    await sp.advance(2)
    assert sorted(sp.runner.heads_built) == ["A", "A#a", "A#b", "A#c"]
    assert degrees(sp, "A") == {"": pytest.approx(1 / 3), "a": 1.0, "b": 0.0, "c": 0.0}
    assert [project_green(sp, p) for p in PROJECTS] == ["", "A", "A"]
    await sp.stop()


async def test_each_fact_is_announced_once_by_id(tmp_path: Path) -> None:
    sp = await started(tmp_path)
    await commit(sp, "A", "a/x")
    sp.runner.outcomes["B#b"] = BuildState.FAILED
    await commit(sp, "B", "b/y", outcome=BuildState.FAILED)
    await sp.advance(2)
    ids = [e.id for e in sp.events.events]
    assert len(ids) == len(set(ids))
    facts = {
        (e.payload["uri"], e.payload["project"]) for e in sp.events.events if "commit" in e.type
    }
    assert facts == {(u, p) for u in ("A", "B") for p in ("", *PROJECTS)}
    await sp.stop()
