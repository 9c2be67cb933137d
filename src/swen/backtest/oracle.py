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

A move may enter j from any i when j is open (``ok``), else only staying is allowed, so the lexmin is
``(V[t-1, j], K[t-1, j] + move[j, j])`` for a closed j and, for an open j, the cheapest
``K[t-1, i] + move[i, j]`` among the i holding the lowest V (ties: the lowest i). Only that second
case needs the ``C x C`` pass. The DP runs step by step (:class:`_Steps`) over blocks of
``BLOCK_STEPS`` steps read from the trace and chunks of up to ``CHUNK_SERVICES`` services, fewer when
their back pointers (``T x S' x C``, int8) would pass ``BACK_CELLS``: memory is bounded at any fleet
size and replay length, and each numpy call works on many services at once. A chunk holds services of
similar candidate counts and only as many columns as the widest of them has (:func:`narrowed`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from swen.backtest.trace import Floors, Grid, Progress, Trace, bad_cells, cell_values, enter_ok

UNREACHABLE = np.int64(1) << np.int64(40)
BACK_CELLS = 1 << 25
"""Back pointers held per chunk of services (one byte each)."""
BLOCK_STEPS = 256
"""Steps of trace values read at a time for a chunk."""
CHUNK_SERVICES = 128
"""At most this many services per chunk: their ``S' x C x C`` step arrays stay in the CPU cache
(measured at 1,000 services: 64-128 per chunk ran ~1.5x faster than 1,000)."""


def oracle_path(
    trace: Trace, grid: Grid, floors: Floors, *, progress: Progress | None = None
) -> npt.NDArray[np.int16]:
    """The oracle's ``T x S`` path of candidate columns."""
    n_s, n_t = len(trace.services), trace.steps
    path = np.empty((n_t, n_s), dtype=np.int16)
    per_chunk = max(1, min(CHUNK_SERVICES, BACK_CELLS // max(1, n_t * grid.width)))
    counts = np.count_nonzero(grid.cand_pair >= 0, axis=1)
    order = np.argsort(counts, kind="stable")
    for lo in range(0, n_s, per_chunk):
        services = order[lo : lo + per_chunk]
        path[:, services] = _chunk(trace, narrowed(grid, int(counts[services].max())), floors, services)
        if progress is not None:
            progress(len(services))
    return path


def narrowed(grid: Grid, width: int) -> Grid:
    """``grid`` cut to its first ``width`` candidate columns (views, no copy).

    The DP works on services of similar candidate counts together (at 1,000 services they have 3 to 21
    candidates, 11 on average) in a grid cut to the widest of them: the cut columns are padding, never
    reachable (``UNREACHABLE``) nor enterable, so they never win a minimum and the path is the same."""
    return dataclasses.replace(
        grid,
        cand_pair=grid.cand_pair[:, :width],
        enterable=grid.enterable[:, :width],
        move_usd=grid.move_usd[:, :width, :width],
    )


def _chunk(
    trace: Trace, grid: Grid, floors: Floors, services: npt.NDArray[np.int64]
) -> npt.NDArray[np.int16]:
    n_t = trace.steps
    dp = _Steps(grid.move_usd[services], grid.initial[services], n_t)
    rate = (grid.replicas[services] * trace.step_h)[None, :, None]
    for lo in range(0, n_t, BLOCK_STEPS):
        values = cell_values(trace, grid, slice(lo, min(lo + BLOCK_STEPS, n_t)), services)
        bad = bad_cells(values, grid, services, floors, steps=n_t)
        ok = enter_ok(values, grid, services, floors)
        cost = np.nan_to_num(values["hourly_cost_usd"], nan=0.0) * rate
        for i in range(cost.shape[0]):
            dp.step(lo + i, bad[i], ok[i], cost[i])
    return dp.path()


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
    dp = _Steps(move, initial, cost.shape[0])
    for t in range(cost.shape[0]):
        dp.step(t, bad[t], ok[t], cost[t])
    return dp.path()


class _Steps:
    """The DP fed one step at a time (``S x C`` arrays per step); :meth:`path` backtracks."""

    def __init__(self, move: npt.NDArray[np.float64], initial: npt.NDArray[np.int64], n_t: int) -> None:
        n_s, n_c = move.shape[0], move.shape[1]
        self.rows = np.arange(n_s)
        self.into = np.ascontiguousarray(move.transpose(0, 2, 1))
        """``into[s, j, i]`` = ``move[s, i, j]``: the reductions over i run along the last axis."""
        self.flat = np.arange(n_s * n_c) * n_c
        """Offsets of each ``(s, j)`` row in the flattened ``S x C x C`` pass."""
        self.stay = np.ascontiguousarray(np.diagonal(move, axis1=1, axis2=2))
        self.cols = np.broadcast_to(np.arange(n_c), (n_s, n_c))
        self.value = np.full((n_s, n_c), UNREACHABLE, dtype=np.int64)
        self.spent = np.full((n_s, n_c), np.inf)
        self.value[self.rows, initial] = 0
        self.spent[self.rows, initial] = 0.0
        self.back = np.empty((n_t, n_s, n_c), dtype=np.int8 if n_c <= 127 else np.int16)

    def step(
        self,
        t: int,
        bad: npt.NDArray[np.int64],
        ok: npt.NDArray[np.bool_],
        cost: npt.NDArray[np.float64],
    ) -> None:
        value, spent = self.value, self.spent
        # argmin + gather: numpy's min over a short last axis is several times slower than argmin
        low = value[self.rows, value.argmin(axis=1)][:, None]
        entering = np.where(value == low, spent, np.inf)[:, None, :] + self.into
        arg = entering.argmin(axis=2)
        via = entering.ravel()[self.flat + arg.ravel()].reshape(arg.shape)
        self.back[t] = np.where(ok, arg, self.cols)
        best_v = np.where(ok, low, value)
        self.spent = np.where(ok, via, spent + self.stay) + cost
        self.value = np.where(best_v >= UNREACHABLE, UNREACHABLE, best_v + bad)

    def path(self) -> npt.NDArray[np.int16]:
        value, back = self.value, self.back
        n_t = back.shape[0]
        final_v = value.min(axis=1)
        final_k = np.where(value == final_v[:, None], self.spent, np.inf)
        path = np.empty((n_t, len(self.rows)), dtype=np.int16)
        path[n_t - 1] = final_k.argmin(axis=1)
        for t in range(n_t - 1, 0, -1):
            path[t - 1] = back[t][self.rows, path[t]]
        return path
