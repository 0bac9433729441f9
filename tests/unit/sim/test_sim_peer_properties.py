"""Properties of the peers on random small workloads: every landing verified, and without
flakes every good change lands and every bad one is rejected, given time to drain."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import change, replay, workload

from sq.sim.metrics import verify
from sq.sim.runner import make_strategy

N = 9


@st.composite
def small_workloads(
    draw: st.DrawFn,
) -> tuple[list[tuple[int, bool, int]], list[tuple[int, int]]]:
    changes = [
        (
            draw(st.integers(0, 30)),
            draw(st.booleans()),
            draw(st.sampled_from([3, 5, 10])),
        )
        for _ in range(N)
    ]
    changes.sort(key=lambda c: c[0])
    pairs = draw(st.lists(st.tuples(st.integers(0, N - 1), st.integers(0, N - 1)), max_size=20))
    return changes, [(a, b) for a, b in pairs if a != b]


@settings(max_examples=150, deadline=None)
@given(
    case=small_workloads(),
    peer=st.sampled_from(["optimistic", "bisect"]),
    capacity=st.integers(1, 4),
)
def test_peers_settle_every_change_correctly(
    case: tuple[list[tuple[int, bool, int]], list[tuple[int, int]]], peer: str, capacity: int
) -> None:
    spec, pairs = case
    changes = [change(i, at, good=good, build_min=b) for i, (at, good, b) in enumerate(spec)]
    w = workload(changes, pairs=pairs, window_hours=1, tail_hours=20)
    ledger = replay(make_strategy(peer, capacity), w)

    assert verify(w, ledger) == []
    assert set(ledger.landed_at) == {c.index for c in changes if c.good}
    assert set(ledger.rejected_at) == {c.index for c in changes if not c.good}
    running = sorted(
        [(b.start_ms, 1) for b in ledger.builds] + [(b.end_ms or 0, -1) for b in ledger.builds],
        key=lambda e: (e[0], e[1]),
    )
    level = peak = 0
    for _, step in running:
        level += step
        peak = max(peak, level)
    assert peak <= capacity
