"""The value speculator's pruned walk proposes exactly what enumerating every head proposes."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from speculation_helpers import F, S, TableScorer, batch, entry, pset, snap

from sq.submitqueue.core.speculation.finalize import finalize
from sq.submitqueue.entity.batch import Batch, Priority
from sq.submitqueue.entity.path import PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet
from sq.submitqueue.entity.proposal import PathAction, Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator import value
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator, rank

FINISHED = ["succeeded", "failed", "cancelled"]
OPEN = ["speculating"] * 8 + ["merging", "created", "cancelling"]
STATUSES = ["pending", "building", "building", "passed", "failed", "cancelling", "cancelled"]
# A few repeated values, so that densities and bounds tie across heads.
SCORES = st.one_of(st.sampled_from([0.0, 0.3, 0.5, 0.9, 0.95, 0.99, 1.0]), st.floats(0.0, 1.0))


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[SpeculationSnapshot, dict[str, float], dict[str, float]]:
    """Finished batches, then up to 40 open ones: chains (every earlier one, or a window of
    them), a few of them or none, high and normal, with paths of every status, attempt and age."""
    finished = draw(st.integers(0, 4))
    n = finished + draw(st.integers(1, 40))
    shape = draw(st.sampled_from(["chain", "window", "subset", "independent"]))
    window = draw(st.integers(1, 30))
    batches: list[Batch] = []
    for i in range(n):
        earlier = [f"q/{j}" for j in range(i)]
        if shape == "chain":
            deps = earlier
        elif shape == "window":
            deps = earlier[max(0, i - window) :]
        elif shape == "subset":
            deps = sorted(draw(st.sets(st.sampled_from(earlier), max_size=4)) if earlier else [])
        else:
            deps = []
        state = draw(st.sampled_from(FINISHED if i < finished else OPEN))
        made = batch(f"q/{i}", state, tuple(deps))
        if draw(st.integers(0, 4)) == 0:
            made = dataclasses.replace(made, priority=Priority.HIGH)
        batches.append(made)
    scores = {b.id: draw(SCORES) for b in batches}
    costs = {b.id: draw(st.sampled_from([1.0, 1.0, 2.0, 5.0, 0.5])) for b in batches}
    sets = [s for b in batches if (s := draw(_path_set(b))) is not None]
    return snap(*batches, sets=tuple(sets)), scores, costs


@st.composite
def _path_set(draw: st.DrawFn, head: Batch) -> PathSet | None:
    if head.state.value not in ("speculating", "merging", "cancelling") or draw(st.integers(0, 2)):
        return None
    entries: dict[str, PathEntry] = {}
    for _ in range(draw(st.integers(0, 3))):
        flipped = draw(st.sets(st.integers(0, max(0, len(head.dependencies) - 1)), max_size=2))
        path = SpeculationPath(
            head=head.id,
            dependencies=tuple(
                PathDependency(batch=d, assumption=F if k in flipped else S)
                for k, d in enumerate(head.dependencies)
            ),
        )
        made = entry(path, draw(st.sampled_from(STATUSES)), attempt=draw(st.integers(1, 3)))
        entries[path.id] = dataclasses.replace(made, updated_at_ms=draw(st.integers(0, 1000)))
    return pset(head.id, *entries.values())


def both_walks(
    snapshot: SpeculationSnapshot,
    scores: dict[str, float],
    value_settings: ValueSettings,
    costs: dict[str, float] | None,
) -> tuple[list[Speculation], list[Speculation]]:
    def make() -> ValueSpeculator:
        if costs is None:
            return ValueSpeculator(TableScorer(scores), value_settings)
        return ValueSpeculator(
            TableScorer(scores),
            value_settings,
            build_cost=lambda b: costs[b.id],
            clock=lambda: 700,
        )

    pruned, exhaustive = make(), make()
    exhaustive._exhaustive = True
    return pruned.speculate(snapshot), exhaustive.speculate(snapshot)


@settings(max_examples=400, deadline=None)
@given(
    snapshots(),
    st.integers(0, 8),
    st.one_of(st.sampled_from([0.0, 0.5, 3.0, 10.0]), st.floats(0.0, 20.0)),
    st.sampled_from([1.0, 1.5, 3.0]),
    st.integers(1, 8),
    st.booleans(),
)
def test_the_pruned_walk_proposes_what_enumerating_every_head_does(
    drawn: tuple[SpeculationSnapshot, dict[str, float], dict[str, float]],
    budget: int,
    threshold: float,
    hysteresis: float,
    max_paths: int,
    clocked: bool,
) -> None:
    snapshot, scores, costs = drawn
    final = finalize(snapshot, now_ms=1).snapshot
    value_settings = ValueSettings(
        budget=budget, threshold=threshold, hysteresis=hysteresis, max_paths_per_head=max_paths
    )
    pruned, exhaustive = both_walks(final, scores, value_settings, costs if clocked else None)
    assert pruned == exhaustive


def fresh_chain(n: int) -> SpeculationSnapshot:
    """Right after a deep intake: n heads in a chain, the first `budget` ones building."""
    batches = [batch(f"q/{i}", "speculating", tuple(f"q/{j}" for j in range(i))) for i in range(n)]
    sets = []
    for head in batches[:4]:
        path = SpeculationPath(
            head=head.id,
            dependencies=tuple(PathDependency(batch=d, assumption=S) for d in head.dependencies),
        )
        sets.append(pset(head.id, entry(path, "building")))
    return snap(*batches, sets=tuple(sets))


@pytest.mark.parametrize("budget", [4, 6])
def test_a_deep_chain_run_enumerates_only_the_heads_at_its_front(
    budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    enumerated: list[str] = []
    streams = rank.head_stream

    def counted(head: Batch, *args: object, **kwargs: object) -> rank.HeadStream:
        enumerated.append(head.id)
        return streams(head, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rank, "head_stream", counted)
    snapshot = fresh_chain(200)
    scores = {b.id: 0.9 for b in snapshot.batches}
    pruned, exhaustive = both_walks(snapshot, scores, ValueSettings(budget=budget), None)
    assert pruned == exhaustive
    assert [p.action for p in pruned] == [PathAction.BUILD] * (budget - 4)
    assert len(enumerated) - 200 < 20  # the exhaustive walk enumerated all 200 heads


@pytest.mark.parametrize("budget", [4, 6])
def test_a_deep_chain_run_values_only_the_heads_it_visits(
    budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head's figures (its live paths' probabilities, O(dependencies) each) are computed only
    for the heads the walk visits and those holding a live build, not for every head."""
    valued: list[str] = []
    figures = value._head_figures

    def counted(head: Batch, *args: object) -> object:
        valued.append(head.id)
        return figures(head, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(value, "_head_figures", counted)
    snapshot = fresh_chain(200)
    scores = {b.id: 0.9 for b in snapshot.batches}
    speculator = ValueSpeculator(TableScorer(scores), ValueSettings(budget=budget))
    proposals = speculator.speculate(snapshot)
    assert [p.action for p in proposals] == [PathAction.BUILD] * (budget - 4)
    # Only heads whose bound, read in full, still reaches the candidates held are valued (the
    # four building ones and the next few); valuing every head, as before, is all 200, and
    # valuing each head the walk pops once is about half of them.
    assert len(valued) < 20


def test_heads_whose_bound_ties_the_last_kept_candidate_are_enumerated() -> None:
    """Twelve equal independent heads, three slots: the head id breaks the tie, and `q/10`
    sorts before `q/2` though it is listed (and its bound is met) after it."""
    snapshot = snap(*(batch(f"q/{i}") for i in range(12)))
    scores = {b.id: 0.9 for b in snapshot.batches}
    pruned, exhaustive = both_walks(snapshot, scores, ValueSettings(budget=3, threshold=0.5), None)
    assert pruned == exhaustive
    assert [p.path.head for p in pruned] == ["q/0", "q/1", "q/10"]


@pytest.mark.parametrize("default", [-0.1, 1.5, float("nan")])
def test_a_default_probability_outside_zero_to_one_is_refused(default: float) -> None:
    with pytest.raises(ValueError, match="default probability"):
        ValueSettings(default_probability=default)
