"""The author-and-folder failure model: a change's rate depends on its folders too."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from sq.sim.runner import small_team_scenario
from sq.sim.workload import FailureModel, Workload, generate, prehistory


def bad_share_by_folder(w: Workload, least: int = 150) -> dict[str, float]:
    seen: dict[str, list[bool]] = defaultdict(list)
    for c in w.changes:
        seen[c.areas[0]].append(not c.good)
    return {f: sum(v) / len(v) for f, v in seen.items() if len(v) >= least}


def spec(model: FailureModel) -> Workload:
    base = small_team_scenario(0.1, window_hours=600, failure_model=model).workload
    return generate(dataclasses.replace(base, authors=400), seed=11)


def test_folders_carry_signal_beyond_the_author_only_in_the_folder_model() -> None:
    by_author = bad_share_by_folder(spec(FailureModel.AUTHOR))
    by_both = bad_share_by_folder(spec(FailureModel.AUTHOR_FOLDER))

    assert len(by_author) >= 5
    assert len(by_both) >= 5
    # With at least 150 changes a folder, sampling alone spreads shares by about ±0.05.
    assert max(by_author.values()) - min(by_author.values()) < 0.1
    assert max(by_both.values()) - min(by_both.values()) > 0.25


def test_the_folder_model_keeps_the_mean_failure_rate_and_the_arrivals() -> None:
    by_author, by_both = spec(FailureModel.AUTHOR), spec(FailureModel.AUTHOR_FOLDER)

    def share(w: Workload) -> float:
        return sum(not c.good for c in w.changes) / len(w.changes)

    assert abs(share(by_both) - share(by_author)) < 0.02
    assert [c.arrival_ms for c in by_author.changes] == [c.arrival_ms for c in by_both.changes]
    assert [c.author for c in by_author.changes] == [c.author for c in by_both.changes]


def test_pairwise_conflicts_are_drawn_once_with_probability_q() -> None:
    scenario = small_team_scenario(0.1, window_hours=20)
    w = generate(dataclasses.replace(scenario.workload, tail_hours=0.0), seed=4)
    n = len(w.changes)
    pairs = {(a, b) for a in range(n) for b in w.neighbors(a) if a < b}

    expected = 0.3 * n * (n - 1) / 2
    assert abs(len(pairs) - expected) < 4 * (expected * 0.7) ** 0.5
    assert all(w.conflicts(b, a) and w.conflicts(a, b) for a, b in pairs)
    assert not any(w.conflicts(a, a) for a in range(n))
    last_row = sum(1 for a, b in pairs if b == n - 1)
    assert abs(last_row - 0.3 * (n - 1)) < 4 * (0.21 * n) ** 0.5
    again = generate(w.spec, seed=4)
    assert all(again.neighbors(a) == w.neighbors(a) for a in range(n))


def test_the_prehistory_is_the_same_team_and_leaves_the_workload_alone() -> None:
    base = small_team_scenario(0.1, failure_model=FailureModel.AUTHOR_FOLDER).workload
    before = generate(base, seed=5)
    earlier = prehistory(base, 5, 2000)
    after = generate(base, seed=5)

    assert before.changes == after.changes
    rate_of = {(c.author, c.areas): c.bad_rate for c in before.changes}
    shared = [c for c in earlier if (c.author, c.areas) in rate_of]
    assert len(shared) > 100
    assert all(c.bad_rate == rate_of[(c.author, c.areas)] for c in shared)
    # Its own draws: not the workload's changes again.
    assert [c.good for c in earlier[:200]] != [c.good for c in before.changes[:200]]
    share = sum(not c.good for c in earlier) / len(earlier)
    assert abs(share - sum(c.bad_rate for c in earlier) / len(earlier)) < 0.03
