"""The oracle's DP on hand-made traces whose optimum is known, and against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from swen.backtest.oracle import solve

OUT = 100  # outage weight in these hand-made traces (> number of steps)


def one_service(
    cost: list[list[float]],
    *,
    move: float | list[list[float]] = 1.0,
    bad: list[list[int]] | None = None,
    ok: list[list[bool]] | None = None,
    initial: int = 0,
) -> list[int]:
    """Solve for one service: ``cost[t][c]``; returns the path of columns."""
    c = np.asarray(cost, dtype=np.float64)[:, None, :]
    n_c = c.shape[2]
    m = (
        np.full((n_c, n_c), move, dtype=np.float64)
        if np.isscalar(move)
        else np.asarray(move, dtype=np.float64)
    )
    np.fill_diagonal(m, 0.0)
    b = np.zeros_like(c, dtype=np.int64) if bad is None else np.asarray(bad, dtype=np.int64)[:, None, :]
    o = np.ones_like(c, dtype=bool) if ok is None else np.asarray(ok, dtype=bool)[:, None, :]
    path = solve(b, o, c, m[None], np.array([initial]))
    return [int(x) for x in path[:, 0]]


def path_value(path, cost, move, bad, initial):
    prev, bad_total, total = initial, 0, 0.0
    for t, col in enumerate(path):
        if col != prev:
            total += move[prev][col]
        total += cost[t][col]
        bad_total += bad[t][col]
        prev = col
    return bad_total, total


def test_switches_once_when_the_cheap_side_changes() -> None:
    cost = [[1, 3], [1, 3], [5, 1], [5, 1]]
    assert one_service(cost, move=1.0) == [0, 0, 1, 1]  # 1 + 1 + (1 + 1) + 1 = 5


def test_stays_when_the_move_costs_more_than_it_saves() -> None:
    cost = [[1, 3], [1, 3], [5, 1], [5, 1]]
    assert one_service(cost, move=10.0) == [0, 0, 0, 0]  # 12 < 1 + 1 + 10 + 1 + 1


def test_moves_at_once_when_the_other_side_is_always_cheaper() -> None:
    assert one_service([[5, 1]] * 4, move=2.0) == [1, 1, 1, 1]


def test_leaves_an_outage_even_for_a_slower_and_dearer_candidate() -> None:
    cost = [[1, 5]] * 4
    bad = [[0, 1], [OUT, 1], [OUT, 1], [0, 1]]  # column 0 down at t=1,2; column 1 always over the SLO
    path = one_service(cost, move=1.0, bad=bad)
    assert path == [0, 1, 1, 0]


def test_prefers_meeting_the_slo_over_cost() -> None:
    cost = [[1, 9]] * 3
    bad = [[1, 0]] * 3  # the cheap column breaks the SLO every step
    assert one_service(cost, move=50.0, bad=bad) == [1, 1, 1]


def test_respects_entry_rules_but_can_always_stay() -> None:
    cost = [[9, 1, 1]] * 4
    ok = [[True, False, False], [True, False, True], [True, True, True], [True, True, True]]
    move = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    path = one_service(cost, move=move, ok=ok)
    assert path[0] == 0  # nothing may be entered at t=0
    assert path[1] == 2  # column 2 opens first
    assert path == [0, 2, 2, 2]


def test_starts_from_the_initial_column() -> None:
    cost = [[1, 1]] * 3
    assert one_service(cost, move=5.0, initial=1) == [1, 1, 1]


@pytest.mark.parametrize("seed", range(25))
def test_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_t, n_c = 5, 3
    cost = rng.uniform(0, 10, (n_t, n_c)).round(2).tolist()
    move = rng.uniform(0, 8, (n_c, n_c)).round(2)
    np.fill_diagonal(move, 0)
    bad = (rng.random((n_t, n_c)) < 0.25).astype(int) * rng.choice([1, OUT], (n_t, n_c))
    ok = rng.random((n_t, n_c)) < 0.7
    initial = int(rng.integers(n_c))
    path = one_service(cost, move=move.tolist(), bad=bad.tolist(), ok=ok.tolist(), initial=initial)

    def feasible(p: tuple[int, ...]) -> bool:
        prev = initial
        for t, col in enumerate(p):
            if col != prev and not ok[t][col]:
                return False
            prev = col
        return True

    best = min(
        path_value(p, cost, move, bad, initial)
        for p in itertools.product(range(n_c), repeat=n_t)
        if feasible(p)
    )
    assert feasible(tuple(path))
    got = path_value(path, cost, move, bad, initial)
    assert got[0] == best[0]
    assert got[1] == pytest.approx(best[1], abs=1e-9)


def test_vectorised_over_services_gives_each_service_its_own_optimum() -> None:
    cost_a = [[1, 3], [1, 3], [5, 1], [5, 1]]
    cost_b = [[5, 1]] * 4
    cost = np.stack([np.asarray(cost_a, float), np.asarray(cost_b, float)], axis=1)
    move = np.array([[[0, 1], [1, 0]], [[0, 2], [2, 0]]], dtype=float)
    path = solve(
        np.zeros_like(cost, dtype=np.int64), np.ones_like(cost, dtype=bool), cost, move, np.array([0, 0])
    )
    assert path[:, 0].tolist() == [0, 0, 1, 1]
    assert path[:, 1].tolist() == [1, 1, 1, 1]
