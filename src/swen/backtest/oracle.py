"""The hindsight oracle: the best placement path per service, computed exactly by dynamic programming.

The oracle knows the whole trace. For each service it picks a candidate for every step (a finer grid
than "each hour", so it is at least as good as an hourly oracle), starting from the service's initial
placement, and minimises, lexicographically:

1. the number of outage steps (availability below the floor): a service that is up but slow beats
   one that is down;
2. then the number of SLO steps (latency above the SLO): it meets every constraint and SLO whenever
   some path can;
3. then the total cost: running cost (hourly x replicas x step hours) + the one-time migration cost
   (state_gb x egress price) of every move, exactly as the other strategies pay it.

Moves may only land on a candidate the service's residency allows and, for GPU services, where the
GPU availability is at or above the floor at that step (staying is always allowed: a running service
holds its capacity). These are the rules the platform's apply step follows too, so every path the
platform can take is one the oracle considered: the platform never beats the oracle in
(outage steps, SLO steps, cost) order.

Recurrence over steps t with state = column j (vectorised over services and columns, O(T x C^2))::

    V[t, j], K[t, j] = lexmin over i allowed to move to j of (V[t-1, i], K[t-1, i] + move[i, j])
                       then V += bad[t, j], K += cost[t, j]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from swen.backtest.trace import Floors, Grid, Progress, Trace, bad_cells, cell_values, enter_ok

UNREACHABLE = np.int64(1) << np.int64(40)
CHUNK_SERVICES = 32


def oracle_path(
    trace: Trace, grid: Grid, floors: Floors, *, progress: Progress | None = None
) -> npt.NDArray[np.int16]:
    """The oracle's ``T x S`` path of candidate columns."""
    n_s = len(trace.services)
    path = np.empty((trace.steps, n_s), dtype=np.int16)
    for lo in range(0, n_s, CHUNK_SERVICES):
        services = np.arange(lo, min(lo + CHUNK_SERVICES, n_s))
        path[:, services] = _chunk(trace, grid, floors, services)
        if progress is not None:
            progress(len(services))
    return path


def _chunk(
    trace: Trace, grid: Grid, floors: Floors, services: npt.NDArray[np.int64]
) -> npt.NDArray[np.int16]:
    values = cell_values(trace, grid, slice(None), services)
    bad = bad_cells(values, grid, services, floors)
    ok = enter_ok(values, grid, services, floors)
    cost = (
        np.nan_to_num(values["hourly_cost_usd"], nan=0.0)
        * (grid.replicas[services] * trace.step_h)[None, :, None]
    )
    del values
    return solve(bad, ok, cost, grid.move_usd[services], grid.initial[services])


def solve(
    bad: npt.NDArray[np.int64],
    ok: npt.NDArray[np.bool_],
    cost: npt.NDArray[np.float64],
    move: npt.NDArray[np.float64],
    initial: npt.NDArray[np.int64],
) -> npt.NDArray[np.int16]:
    """Exact lexicographic (badness, cost) DP.

    ``bad``/``ok``/``cost`` are ``T x S x C``: badness of the step (``trace.bad_cells``), may a move
    land there, running cost of the step. ``move`` is ``S x C x C`` (one-time cost of i -> j) and
    ``initial`` the start column.
    """
    n_t, n_s, n_c = cost.shape
    rows = np.arange(n_s)
    stay = np.eye(n_c, dtype=bool)[None, :, :]
    value = np.full((n_s, n_c), UNREACHABLE, dtype=np.int64)
    spent = np.full((n_s, n_c), np.inf)
    value[rows, initial] = 0
    spent[rows, initial] = 0.0
    back = np.empty((n_t, n_s, n_c), dtype=np.int16)
    for t in range(n_t):
        allowed = stay | ok[t][:, None, :]
        cand_v = np.where(allowed, value[:, :, None], UNREACHABLE)
        best_v = cand_v.min(axis=1)
        cand_k = np.where(cand_v == best_v[:, None, :], spent[:, :, None] + move, np.inf)
        arg = cand_k.argmin(axis=1)
        back[t] = arg
        spent = np.take_along_axis(cand_k, arg[:, None, :], axis=1)[:, 0, :] + cost[t]
        value = np.where(best_v >= UNREACHABLE, UNREACHABLE, best_v + bad[t])
    final_v = value.min(axis=1)
    final_k = np.where(value == final_v[:, None], spent, np.inf)
    path = np.empty((n_t, n_s), dtype=np.int16)
    path[n_t - 1] = final_k.argmin(axis=1)
    for t in range(n_t - 1, 0, -1):
        path[t - 1] = back[t][rows, path[t]]
    return path
