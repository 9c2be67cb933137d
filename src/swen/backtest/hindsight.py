"""The label: the bill's own verdict on one move, in hindsight.

A move of service s from candidate column c0 to c1, decided at step t, is *right* when it lowered the
bill (``accounting.account``: running + migration - credits applied by the strategy's own ledger)
by more than its one-time cost. The counterfactual is the replay's own placement path with s held at
c0 ("stay") or at c1 ("move") for the horizon (steps ``t + 1 .. t + HINDSIGHT_HORIZON_S``), every
other service and every other step as the platform placed them::

    list_saved   = running cost of s at c0 - at c1 over the horizon        (prices x replicas x hours)
    credit_saved = credits the fleet's bill gets with the move - without it
    saved        = list_saved + credit_saved                 (= bill(stay) - bill(move), before the move)
    positive     = saved > move_usd[s, c0, c1]               (egress + downtime + risk: ``Grid.move_usd``)

``credit_saved`` runs the bill's credit ledger (``credits.CreditRun``, the live burn code) twice from
its state at the horizon's start (burnt by the platform's own path so far): once with s's spend on
c0's provider, once on c1's. Credits are shared by every service on a provider, so the whole fleet's
credits count, and they are followed past the horizon until both ledgers agree again (a balance both
used up or both expired) or the replay ends: a move that leaves credits to expire unused loses them,
one that burns credits the rest of the fleet would have used takes them from the others, and a move
onto credits that expire before it has paid back is paid at list price after they go. Without grants
``credit_saved`` is 0 and the label is the running-cost comparison.

Moves with less than ``MIN_HORIZON_S`` of replay left are not labelled. The one definition serves the
report (``calibration.replay_calibration``: ECE and the auto-approved net-positive share) and the
calibration fit (``calibration_fit.gate_samples``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from swen.backtest.credits import CreditRun
from swen.backtest.trace import Grid, Trace
from swen.domain.arrays import BoolArray, FloatArray, Int64Array
from swen.engine.calibration import HINDSIGHT_HORIZON_S, MIN_HORIZON_S
from swen.engine.cycle import Cycle

AGREE_USD = 1e-6
"""Two ledgers agree when every grant's balance differs by less than this (and their states match)."""


@dataclass(frozen=True, eq=False)
class Verdict:
    """Per move (same order as the inputs): whether it is labelled and positive, and the parts."""

    labelled: BoolArray
    positive: BoolArray
    list_saved_usd: FloatArray
    credit_saved_usd: FloatArray
    move_usd: FloatArray

    @property
    def saved_usd(self) -> FloatArray:
        """``bill(stay) - bill(move)`` before the move's one-time cost."""
        out: FloatArray = self.list_saved_usd + self.credit_saved_usd
        return out

    @property
    def net_usd(self) -> FloatArray:
        """What the move did to the bill, its one-time cost included (> 0: it paid back)."""
        out: FloatArray = self.saved_usd - self.move_usd
        return out


def service_move(cycle: Cycle, i: int) -> bool:
    """Whether the engine's move of row ``i`` is for the service's sake, as the engine judges it
    (``engine.decide``: an emergency, or an SLO repair, ``Cycle.slo_repair``): its confidence is not the
    calibrated probability of paying back (the score margin's, or the breach's), so the label does not
    score it."""
    return bool(cycle.emergency[i]) or bool(cycle.slo_repair[i])


def step_cost(trace: Trace, grid: Grid, s: int, c: int, lo: int, hi: int) -> npt.NDArray[np.float64]:
    """Running cost of service ``s`` at column ``c`` in each step ``lo .. hi - 1``."""
    pair = int(grid.cand_pair[s, c])
    out: npt.NDArray[np.float64] = trace.hourly_cost_usd[lo:hi, pair] * (grid.replicas[s] * trace.step_h)
    return out


def horizon_steps(trace: Trace) -> tuple[int, int]:
    """(steps in the horizon, fewest steps left for a move to be labelled)."""
    return (
        max(1, round(HINDSIGHT_HORIZON_S / trace.step_s)),
        max(1, round(MIN_HORIZON_S / trace.step_s)),
    )


def bill_verdict(
    trace: Trace,
    grid: Grid,
    path: npt.NDArray[np.integer],
    t: Int64Array,
    s: Int64Array,
    c0: Int64Array,
    c1: Int64Array,
) -> Verdict:
    """The bill's verdict on each move (module docstring); ``path`` is the replay's ``T x S`` columns."""
    horizon, minimum = horizon_steps(trace)
    n = len(t)
    labelled = np.zeros(n, dtype=bool)
    list_saved = np.zeros(n)
    credit_saved = np.zeros(n)
    moves = np.zeros(n)
    windows: list[tuple[int, int]] = []
    for k in range(n):
        lo = int(t[k]) + 1
        hi = min(trace.steps, lo + horizon)
        windows.append((lo, hi))
        if hi - lo < minimum:
            continue
        si, a, b = int(s[k]), int(c0[k]), int(c1[k])
        labelled[k] = True
        list_saved[k] = float(
            (step_cost(trace, grid, si, a, lo, hi) - step_cost(trace, grid, si, b, lo, hi)).sum()
        )
        moves[k] = float(grid.move_usd[si, a, b])
    if trace.grants and labelled.any():
        credit_saved = _credit_saved(trace, grid, np.asarray(path), windows, s, c0, c1, labelled)
    positive = labelled & (list_saved + credit_saved > moves)
    return Verdict(labelled, positive, list_saved, credit_saved, moves)


def path_burn(trace: Trace, grid: Grid, path: npt.NDArray[np.integer]) -> FloatArray:
    """``T x providers``: what the path's placements spend on each provider in each step."""
    n_t, n_s = path.shape
    n_p = len(trace.index.providers)
    rate = grid.replicas * trace.step_h
    out = np.zeros((n_t, n_p))
    s_idx = np.arange(n_s)
    for lo in range(0, n_t, 512):
        hi = min(lo + 512, n_t)
        pairs = grid.cand_pair[s_idx[None, :], path[lo:hi]]
        running = trace.hourly_cost_usd[np.arange(lo, hi)[:, None], pairs].astype(np.float64) * rate
        provider = trace.index.pair_provider[pairs]
        rows = np.repeat(np.arange(hi - lo), n_s)
        np.add.at(out[lo:hi], (rows, provider.ravel()), running.ravel())
    return out


def _credit_saved(
    trace: Trace,
    grid: Grid,
    path: npt.NDArray[np.integer],
    windows: list[tuple[int, int]],
    s: Int64Array,
    c0: Int64Array,
    c1: Int64Array,
    labelled: BoolArray,
) -> FloatArray:
    """Credits the fleet's bill gets with each move minus without it (module docstring)."""
    burn = path_burn(trace, grid, path)
    out = np.zeros(len(windows))
    todo = sorted((windows[k][0], k) for k in np.flatnonzero(labelled))
    run = trace.credit_run()
    step = 0
    for lo, k in todo:
        while step < lo:  # the platform's own ledger up to the horizon's start
            run.burn_providers(step, burn[step])
            step += 1
        out[k] = _credit_difference(
            trace, grid, path, burn, run, windows[k], int(s[k]), int(c0[k]), int(c1[k])
        )
    return out


def _credit_difference(
    trace: Trace,
    grid: Grid,
    path: npt.NDArray[np.integer],
    burn: FloatArray,
    start: CreditRun,
    window: tuple[int, int],
    s: int,
    c0: int,
    c1: int,
) -> float:
    if start.spent:  # no credit left to apply, with the move or without: nothing to tell apart
        return 0.0
    lo, hi = window
    own = path[lo:hi, s].astype(np.int64)
    pairs = grid.cand_pair[s, own]
    actual = trace.hourly_cost_usd[np.arange(lo, hi), pairs] * (grid.replicas[s] * trace.step_h)
    actual_provider = trace.index.pair_provider[pairs]
    stay_cost, move_cost = step_cost(trace, grid, s, c0, lo, hi), step_cost(trace, grid, s, c1, lo, hi)
    stay_p = int(trace.index.pair_provider[int(grid.cand_pair[s, c0])])
    move_p = int(trace.index.pair_provider[int(grid.cand_pair[s, c1])])
    stay, move = copy.deepcopy(start), copy.deepcopy(start)
    applied = 0.0
    base = burn[lo:hi].copy()  # every step's burn without s, then with s on c0 / on c1
    base[np.arange(hi - lo), actual_provider] -= actual
    b_stay, b_move = base.copy(), base
    b_stay[:, stay_p] += stay_cost
    b_move[:, move_p] += move_cost
    np.maximum(b_stay, 0.0, out=b_stay)
    np.maximum(b_move, 0.0, out=b_move)
    for i, step in enumerate(range(lo, hi)):
        if stay.spent and move.spent:  # both apply 0 from here on
            return applied
        applied += float(move.burn_providers(step, b_move[i]).sum())
        applied -= float(stay.burn_providers(step, b_stay[i]).sum())
    for step in range(hi, trace.steps):  # the same path again: followed until the ledgers agree
        if stay.agrees_with(move, AGREE_USD) or (stay.spent and move.spent):
            break
        applied += float(move.burn_providers(step, burn[step]).sum())
        applied -= float(stay.burn_providers(step, burn[step]).sum())
    return applied
