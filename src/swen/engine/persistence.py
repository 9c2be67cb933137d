"""Does a price advantage last, or is it price noise that reverts within hours? (pure)

Per service and candidate (``S x C``), the relative advantage of the candidate over the service's
current placement, ``g = (gross + credits_offset) / current monthly`` (``savings``), is observed every
cycle and modelled as a level plus Ornstein-Uhlenbeck noise::

    g(t) = m + x(t),   dx = -kappa x dt + s sqrt(2 kappa) dW

fitted on the pair's own recent history, exponentially weighted over :data:`TAU_LONG_S` (2 days):

* ``m`` and ``s^2``: the weighted mean and variance of ``g`` (the pair's long-run advantage and its
  noise);
* ``kappa``: the reversion rate, from an AR(1) least-squares fit on the same weights
  (``phi = c1 / c0``, ``c1`` the lag-1 autocovariance; ``kappa = -ln(phi) / dt``);
* ``level``: the advantage now, a faster weighted mean (:data:`TAU_FAST_S`, 1 h) that one noisy
  cycle barely moves.

A *level shift* (a price cut, a surge, credits running out) is a ``level`` that the fitted noise
cannot explain: ``z_shift = (level - m) / (s / sqrt(1 + kappa TAU_FAST_S))`` noise-widths of a 1-h
mean; ``P(shift) = Phi(z_shift - Z_SHIFT)`` (4 widths: a noise excursion that large happens about
once in 30,000 independent hours). A short history shrinks ``m`` towards 0 and ``s`` towards a
prior 5 % (6 h of prior weight each), so a steady 25 % cut counts as lasting from the first cycles and
a 6 % noise lead does not; until a pair has :data:`MIN_HISTORY_S` of history nothing is held out of
its fit.

The forecast of the *average* advantage over the next ``H`` days::

    E[g over H] = m + (level - m) x (P(shift) + (1 - P(shift)) x (1 - e^(-kappa H)) / (kappa H))

A deviation the noise explains reverts at ``kappa`` (the simulator's and the catalog's price noise:
half-life ~1.4 h, so a 6 % lead of an A100 region is worth minutes of saving, not days); a long-run
gap (``m``, e.g. list prices) or a level shift lasts. Its standard error adds the uncertainty of
``m`` (``s / sqrt(n_eff)``, ``n_eff = 1 + kappa x min(history, TAU_LONG_S) / 2``) and the noise
averaged over the horizon (``s x sqrt(2 / (kappa H))``, at most ``s``).

The state is per (service, candidate) and restarts for a service whose current placement changed
(the advantage is measured against it). It is plain data carried from cycle to cycle like
``forecast.AdvantageState`` (``to_dict`` / ``from_dict`` by service name and placement key).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from swen.domain.arrays import FloatArray, IntArray

TAU_LONG_S = 2 * 86400.0
"""Time constant of the pair's history (long-run mean, noise variance, AR(1) fit)."""
TAU_FAST_S = 3600.0
"""Time constant of the advantage's current level."""
MIN_HISTORY_S = 6 * 3600.0
"""History a pair needs before a level above its noise counts as a shift."""
Z_SHIFT = 4.0
Z_HOLD = 3.0
"""A level this many widths of a 1-h mean off the long-run mean is held out of the noise fit."""
Z_OUTLIER = 3.0
"""An observation this many noise sds off the long-run mean is held out of the noise fit."""
REBASE_S = 12 * 3600.0
"""A level held this long becomes the pair's new long-run mean."""
"""Noise-widths a level must stand above the pair's long-run mean to count as a shift."""
PRIOR_SD = 0.05
"""Prior noise of a relative advantage (price noise of ~4 % on each side), worth :data:`PRIOR_WEIGHT_S`
of history."""
PRIOR_WEIGHT_S = 6 * 3600.0
PRIOR_KAPPA_PER_S = 0.5 / 3600.0
"""Prior reversion rate (price noise reverting at 0.5/h, half-life ~1.4 h), worth PRIOR_WEIGHT_S."""
MEAN_PRIOR_S = TAU_LONG_S
"""The prior that a candidate's long-run advantage is none is worth this much history (a full window):
a persistent gap counts either as a level shift (4 widths clear, at once) or after a day or two."""
MEAN_PRIOR_N = PRIOR_KAPPA_PER_S * MEAN_PRIOR_S / 2.0
""":data:`MEAN_PRIOR_S` in independent samples of the prior noise (12)."""
MIN_SD = 0.005
"""Floor of the noise estimate (a flat price path has no noise to measure)."""
KAPPA_BOUNDS_PER_S = (1.0 / (14 * 86400.0), 4.0 / 3600.0)
"""Reversion rates the AR(1) fit may return: half-lives between ~10 min and ~10 days."""
NO_BASE = -1


def _norm_cdf(x: FloatArray) -> FloatArray:
    from swen.engine.forecast import norm_cdf  # one erf for the engine

    return norm_cdf(x)


@dataclass(frozen=True, eq=False)
class GapHistory:
    """Per (service, candidate): EW moments of the relative advantage over the current placement."""

    services: tuple[str, ...]
    placement_keys: tuple[str, ...]
    base: IntArray
    """Per service: the current placement (candidate index) the advantages are measured against."""
    since: FloatArray
    """Per service: when the history against ``base`` started (epoch s)."""
    last: FloatArray
    """Per service: epoch s of the last observation."""
    weight: FloatArray
    """``S x C``: EW weight of what has been observed (0: nothing yet)."""
    mean: FloatArray
    var: FloatArray
    lag_cov: FloatArray
    """``S x C``: EW lag-1 autocovariance (around the running mean)."""
    prev: FloatArray
    """``S x C``: the previous observation (NaN: none)."""
    level: FloatArray
    """``S x C``: fast EW mean (:data:`TAU_FAST_S`)."""
    shift_since: FloatArray
    """``S x C``: since when the level has stood beyond the noise (NaN: it does not)."""
    shift_mean: FloatArray
    """``S x C``: running mean of the observations since ``shift_since`` (the new level's estimate)."""
    shift_count: FloatArray
    rebased: FloatArray
    """``S x C``: 1 where the long-run mean is a level that stood as a shift for :data:`REBASE_S` (a
    verified level: not shrunk towards none), else 0."""
    dt_mean: FloatArray
    """Per service: EW mean of the time between observations (s)."""

    @classmethod
    def empty(cls, services: Sequence[str], placement_keys: Sequence[str]) -> GapHistory:
        n, c = len(services), len(placement_keys)
        return cls(
            tuple(services),
            tuple(placement_keys),
            np.full(n, NO_BASE, dtype=np.intp),
            np.zeros(n),
            np.zeros(n),
            np.zeros((n, c)),
            np.zeros((n, c)),
            np.zeros((n, c)),
            np.zeros((n, c)),
            np.full((n, c), np.nan),
            np.zeros((n, c)),
            np.full((n, c), np.nan),
            np.zeros((n, c)),
            np.zeros((n, c)),
            np.zeros((n, c)),
            np.zeros(n),
        )

    def _rows(self) -> tuple[np.ndarray, ...]:
        return (self.base, self.since, self.last, self.dt_mean)

    def _cells(self) -> tuple[np.ndarray, ...]:
        return (
            self.weight,
            self.mean,
            self.var,
            self.lag_cov,
            self.prev,
            self.level,
            self.shift_since,
            self.shift_mean,
            self.shift_count,
            self.rebased,
        )

    def aligned(self, services: Sequence[str], placement_keys: Sequence[str]) -> GapHistory:
        """This history re-indexed for another service/candidate order (unknown entries start empty)."""
        services, placement_keys = tuple(services), tuple(placement_keys)
        if services == self.services and placement_keys == self.placement_keys:
            return self
        out = GapHistory.empty(services, placement_keys)
        col = {k: i for i, k in enumerate(placement_keys)}
        old_cols = [j for j, k in enumerate(self.placement_keys) if k in col]
        new_cols = [col[self.placement_keys[j]] for j in old_cols]
        remap = np.array([col.get(k, NO_BASE) for k in self.placement_keys] + [NO_BASE], dtype=np.intp)
        row = {s: i for i, s in enumerate(self.services)}
        for i, name in enumerate(services):
            j = row.get(name)
            if j is None:
                continue
            out.base[i] = remap[self.base[j]]
            out.since[i], out.last[i], out.dt_mean[i] = self.since[j], self.last[j], self.dt_mean[j]
            for dst, src in zip(out._cells(), self._cells(), strict=True):
                dst[i, new_cols] = src[j, old_cols]
        return out

    def updated(self, base: IntArray, g: FloatArray, now_s: float) -> GapHistory:
        """The history after observing ``g`` (``S x C``, NaN where a candidate has no advantage to
        measure) against current placements ``base`` at ``now_s``. A service whose current placement
        changed (or has none) starts afresh.

        An observation beyond :data:`Z_OUTLIER` noise-widths of the long-run mean, or any observation
        while the level stands beyond :data:`Z_HOLD` widths of a 1-h mean, does not enter the mean,
        the variance and the AR(1) fit (a level shift must not pass for noise); a level that has stood
        there for :data:`REBASE_S` becomes the new long-run mean."""
        keep = (base >= 0) & (base == self.base)
        dt = np.where(keep, np.maximum(now_s - self.last, 0.0), 0.0)
        history_s = np.where(keep, np.maximum(now_s - self.since, 0.0), 0.0)
        a_fast = (1.0 - np.exp(-dt / TAU_FAST_S))[:, None]
        seen = np.isfinite(g)
        g0 = np.where(seen, g, 0.0)
        had = keep[:, None] & (self.weight > 0)
        old = had & seen  # continue the cell's history
        new = seen & ~had  # first observation of the cell (or after a move)
        cell_s = np.minimum(self.weight * self.dt_mean[:, None], history_s[:, None])
        sd, kappa = _noise(self.var, self.lag_cov, self.dt_mean[:, None], cell_s)
        width = sd / np.sqrt(1.0 + np.minimum(kappa, PRIOR_KAPPA_PER_S) * TAU_FAST_S)
        level = np.where(old, self.level + a_fast * (g0 - self.level), np.where(new, g0, self.level))
        settled = cell_s >= MIN_HISTORY_S
        holding = had & settled & (np.abs(level - self.mean) > Z_HOLD * width)
        skip = holding | (settled & (np.abs(g0 - self.mean) > Z_OUTLIER * sd))
        upd = old & ~skip
        # a running mean until the window has filled, then exponentially weighted
        a_long = np.maximum((1.0 - np.exp(-dt / TAU_LONG_S))[:, None], 1.0 / (self.weight + 1.0))
        diff = g0 - self.mean
        mean = np.where(upd, self.mean + a_long * diff, np.where(new, g0, self.mean))
        var = np.where(upd, (1.0 - a_long) * (self.var + a_long * diff * diff), np.where(new, 0.0, self.var))
        has_prev = upd & np.isfinite(self.prev)
        lag = np.where(has_prev, (g0 - mean) * np.nan_to_num(self.prev - self.mean), 0.0)
        lag_cov = np.where(
            has_prev, (1.0 - a_long) * self.lag_cov + a_long * lag, np.where(new, 0.0, self.lag_cov)
        )
        weight = np.where(upd, self.weight + 1.0, np.where(new, 1.0, np.where(had, self.weight, 0.0)))
        started = holding & np.isnan(self.shift_since)
        shift_since = np.where(holding, np.where(started, now_s, self.shift_since), np.nan)
        count = np.where(holding, np.where(started, 0.0, self.shift_count) + seen, 0.0)
        shift_mean = np.where(
            holding & seen,
            np.where(started, g0, self.shift_mean + (g0 - self.shift_mean) / np.maximum(count, 1.0)),
            np.where(holding, self.shift_mean, 0.0),
        )
        rebase = holding & (now_s - shift_since >= REBASE_S)
        mean = np.where(rebase, shift_mean, mean)
        shift_since = np.where(rebase, np.nan, shift_since)
        shift_mean = np.where(rebase, 0.0, shift_mean)
        count = np.where(rebase, 0.0, count)
        rebased = np.where(rebase, 1.0, np.where(new, 0.0, self.rebased))
        a_dt = 1.0 - np.exp(-dt / TAU_LONG_S)
        dt_mean = np.where(keep & (self.dt_mean > 0), self.dt_mean + a_dt * (dt - self.dt_mean), dt)
        gone = ~keep[:, None] & ~seen  # a moved service forgets the cells it did not observe now
        return GapHistory(
            self.services,
            self.placement_keys,
            np.where(base >= 0, base, NO_BASE).astype(np.intp),
            np.where(keep, self.since, now_s),
            np.full(len(base), now_s),
            np.where(gone, 0.0, weight),
            np.where(gone, 0.0, mean),
            np.where(gone, 0.0, var),
            np.where(gone, 0.0, lag_cov),
            np.where(seen, g0, np.where(gone, np.nan, self.prev)),
            np.where(gone, 0.0, level),
            np.where(gone, np.nan, shift_since),
            np.where(gone, 0.0, shift_mean),
            np.where(gone, 0.0, count),
            np.where(gone, 0.0, rebased),
            np.where(keep, dt_mean, 0.0),
        )

    def to_dict(self) -> dict[str, Any]:
        keys = self.placement_keys
        out: dict[str, Any] = {}
        for i, name in enumerate(self.services):
            if self.base[i] < 0:
                continue
            cells = {
                keys[c]: [float(a[i, c]) for a in self._cells()]
                for c in np.flatnonzero(self.weight[i] > 0).tolist()
            }
            out[name] = {
                "base": keys[int(self.base[i])],
                "since": float(self.since[i]),
                "last": float(self.last[i]),
                "dt_mean": float(self.dt_mean[i]),
                "cells": {
                    k: [None if not math.isfinite(v) else v for v in vals] for k, vals in cells.items()
                },
            }
        return {"gap_history": out}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], services: Sequence[str], placement_keys: Sequence[str]
    ) -> GapHistory:
        out = cls.empty(services, placement_keys)
        col = {k: i for i, k in enumerate(placement_keys)}
        rows: Mapping[str, Mapping[str, Any]] = data.get("gap_history", {})
        for i, name in enumerate(out.services):
            row = rows.get(name)
            if not row or row.get("base") not in col:
                continue
            out.base[i] = col[row["base"]]
            out.since[i], out.last[i] = float(row["since"]), float(row["last"])
            out.dt_mean[i] = float(row["dt_mean"])
            for key, vals in row.get("cells", {}).items():
                c = col.get(key)
                if c is None:
                    continue
                for arr, v in zip(out._cells(), vals, strict=True):
                    arr[i, c] = np.nan if v is None else float(v)
        return out


@dataclass(frozen=True, eq=False)
class Persistence:
    """Per service, for one candidate each (length S): the fitted model and the horizon forecast."""

    mean: FloatArray
    """Long-run advantage ``m``."""
    sd: FloatArray
    """Noise ``s``."""
    kappa_per_s: FloatArray
    level: FloatArray
    shift: FloatArray
    """P(the level is a shift the noise cannot explain)."""
    horizon_mean: FloatArray
    """Expected average advantage over the horizon."""
    horizon_se: FloatArray
    half_life_h: FloatArray

    def pays(self, need: FloatArray) -> FloatArray:
        """P(the average advantage over the horizon exceeds ``need``)."""
        z = np.clip(np.nan_to_num((self.horizon_mean - need) / self.horizon_se, nan=-50.0), -50.0, 50.0)
        return _norm_cdf(z)


def _noise(
    var: FloatArray, lag_cov: FloatArray, dt_mean: FloatArray, history_s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(noise sd, reversion rate per s) from the weighted moments; a short history is shrunk towards
    the priors (it under-measures noise that reverts over hours)."""
    w = history_s / (history_s + PRIOR_WEIGHT_S)
    sd = np.maximum(np.sqrt(np.maximum(w * var + (1.0 - w) * PRIOR_SD**2, 0.0)), MIN_SD)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.clip(np.nan_to_num(np.where(var > 0, lag_cov / var, 0.0), nan=0.0), 1e-6, 1.0 - 1e-9)
        fitted = np.clip(-np.log(phi) / np.maximum(dt_mean, 1.0), *KAPPA_BOUNDS_PER_S)
    kappa = np.exp(w * np.log(fitted) + (1.0 - w) * math.log(PRIOR_KAPPA_PER_S))
    return sd, kappa


def persistence(
    history: GapHistory,
    target: IntArray,
    now_s: float,
    horizon_s: float,
    offset: FloatArray | None = None,
) -> Persistence:
    """The module's forecast for each service's ``target`` candidate (-1: none; zeros there).

    ``offset`` (per service, relative to the current monthly cost) is a known part of the advantage
    added to the forecast as it stands, not fitted: the credits offset (an account's credits are
    scheduled, burning down and expiring, not price noise; while they cover both placements the price
    gap is masked to exactly 0, which a fit would read as a noise-free pair)."""
    rows = np.arange(len(target))
    t = np.maximum(target, 0)
    valid = (target >= 0) & (history.weight[rows, t] > 0)
    mean = np.where(valid, history.mean[rows, t], 0.0)
    var = np.where(valid, history.var[rows, t], 0.0)
    # the candidate's own history: observations x the cycle interval (a candidate that was infeasible
    # for a while, e.g. out of GPUs, has a shorter history than its service)
    history_s = np.where(
        valid,
        np.minimum(history.weight[rows, t] * history.dt_mean, np.maximum(now_s - history.since, 0.0)),
        0.0,
    )
    sd, kappa = _noise(var, np.where(valid, history.lag_cov[rows, t], 0.0), history.dt_mean, history_s)
    level = np.where(valid, history.level[rows, t], 0.0)
    # independent samples of the noise in the cell's history, counted at the slower of the fitted and
    # the prior reversion rate (a fit over a day reads a half-life short: it would count too many)
    k_ind = np.minimum(kappa, PRIOR_KAPPA_PER_S)
    n_data = k_ind * np.minimum(history_s, TAU_LONG_S) / 2.0
    # the long-run advantage is shrunk towards none by a prior worth a full window: among ~40
    # candidates x many services, the best-looking means are the lucky ones (the winner's curse)
    verified = valid & (history.rebased[rows, t] > 0)
    mean = np.where(verified, mean, mean * n_data / (n_data + MEAN_PRIOR_N))
    z_shift = (level - mean) / (sd / np.sqrt(1.0 + k_ind * TAU_FAST_S))
    # no history yet: the long-run mean is shrunk to none, so a level 4 prior widths clear of 0 (a
    # 25 % cut, a list-price gap) counts as lasting from the first cycles, a 6 % noise lead does not
    shift = np.where(valid, _norm_cdf(z_shift - Z_SHIFT), 0.0)
    kh = kappa * horizon_s
    reverts = (1.0 - np.exp(-kh)) / kh
    noise_avg = np.minimum(1.0, 2.0 / (k_ind * horizon_s))
    # a level held beyond the noise is estimated by the mean since it began (its own noise averages out)
    hold_s = np.where(valid, now_s - history.shift_since[rows, t], np.nan)
    held = valid & np.isfinite(hold_s)
    new_level = np.where(held, history.shift_mean[rows, t], level)
    hold_s = np.where(held, hold_s, 0.0)
    # the longer a level has been held, the more of its noise its mean has averaged out
    # (the mean of the observations since the hold began: one observation's noise at first)
    z_held = (new_level - mean) / (sd / np.sqrt(1.0 + k_ind * hold_s / 2.0))
    shift = np.where(held, np.maximum(shift, _norm_cdf(z_held - Z_SHIFT)), shift)
    horizon_mean = mean + np.where(
        held, shift * (new_level - mean), (level - mean) * (shift + (1.0 - shift) * reverts)
    )
    se_noise = sd * np.sqrt(1.0 / (1.0 + n_data) + noise_avg)
    se_shift = sd * np.sqrt(1.0 / (1.0 + k_ind * hold_s / 2.0) + noise_avg)
    horizon_se = np.where(held, np.sqrt((1.0 - shift) * se_noise**2 + shift * se_shift**2), se_noise)
    if offset is not None:
        horizon_mean = horizon_mean + np.nan_to_num(offset)
    return Persistence(
        mean=mean,
        sd=sd,
        kappa_per_s=kappa,
        level=level,
        shift=shift,
        horizon_mean=np.where(valid, horizon_mean, 0.0),
        horizon_se=horizon_se,
        half_life_h=math.log(2.0) / kappa / 3600.0,
    )
