"""How long a candidate's advantage lasts, and what moving saves over that horizon (pure).

The engine carries one :class:`AdvantageState` from cycle to cycle (like ``WinnerHistory``). For each
service it tracks the cycle's target against the current placement:

* ``g`` = monthly saving of the move before its one-time cost (price gap plus credits) / current
  monthly cost (the relative advantage), observed every cycle;
* ``mean``, ``var``: exponentially weighted mean and variance of ``g`` with time constant
  :data:`TAU_S` (6 h), started from the first observation and a prior spread :data:`PRIOR_SD`;
* ``since``: when moving away from the current placement started to pay (tracking restarts when
  staying is best again or the service moved; a lead passing from one target to a similar one, such
  as two regions under the same price cut, continues it).

From these, per service:

* **evidence** ``z = mean / (sd / sqrt(n_eff))`` with ``n_eff = 1 + min(age, TAU_S) / CORR_S``: how
  many noise-widths the advantage stands clear of zero. Price noise reverts within hours
  (``CORR_S`` = 2 h is the simulator's and the catalog's observed correlation time); a 25 % price
  cut stands clear at once (z ~ 5), a 2 % edge never does;
* **duration**: quantiles (10 %, 50 %, 90 %) of how much longer the advantage lasts, from the age of
  the advantage (a Lindy-type rule: the longer an advantage has held, the longer it is expected to
  hold), looked up in :class:`DurationModel`. Its table is fitted on replays
  (``scripts/calibrate_confidence.py``: empirical quantiles of the realised remaining duration per
  age bucket, cross-fitted by scenario); without a table the Copernican rule is used (median =
  age + one day, 80 % interval a quarter to four times that);
* **payback** ``= migration_usd / (mean x current monthly / 30.44)`` days (the one-time cost is egress,
  downtime and risk: ``migration_cost``; the saving per day is the smoothed advantage, not this
  cycle's noisy gap), and the probability the advantage outlasts it, from a log-normal through the
  duration quantiles;
* **pays within the horizon**: the probability that the smoothed advantage, over the payback horizon
  confidence is defined on (``calibration.HINDSIGHT_HORIZON_S``, 3 days), earns the one-time cost
  back: ``Phi((mean - need) / (2 se))`` with ``need = migration_usd x 30.44 / (current monthly x
  horizon days)``;
* **horizon saving** ``= mean x current monthly x median days / 30.44 - migration_usd``: what the move
  saves net of its one-time cost over the expected horizon (capped at :data:`MAX_HORIZON_DAYS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from swen.domain.arrays import BoolArray, FloatArray, IntArray

TAU_S = 6 * 3600.0
"""Time constant of the advantage's exponentially weighted mean and variance."""
CORR_S = 2 * 3600.0
"""Correlation time of price noise (OU mean reversion ~0.5/h): observations this far apart count as
independent evidence."""
PRIOR_SD = 0.05
"""Prior spread of the relative advantage (price noise of ~4 % on each side)."""
DAYS_PER_MONTH = 30.44
MAX_HORIZON_DAYS = 30.0
Z_80 = 1.2816
"""Standard normal quantile of 0.90 (an 80 % central interval spans +-Z_80 sigma)."""

NO_TARGET = -1


def _erf(x: FloatArray) -> FloatArray:
    """Vectorised erf (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7): no per-element Python."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: FloatArray = sign * (1.0 - poly * np.exp(-a * a))
    return out


def norm_cdf(x: FloatArray | float) -> FloatArray:
    """Standard normal CDF, elementwise (numpy only)."""
    arr = np.asarray(x, dtype=np.float64)
    out: FloatArray = 0.5 * (1.0 + _erf(arr / math.sqrt(2.0)))
    return out


@dataclass(frozen=True)
class DurationModel:
    """Remaining advantage duration (days) by age of the advantage (hours): quantiles per age bucket.

    ``age_h[k]`` is the lower edge of bucket k (the first is 0); ``q10/q50/q90[k]`` the 10 %, 50 %
    and 90 % quantiles of the remaining duration in days of advantages that had held that long."""

    age_h: tuple[float, ...]
    q10: tuple[float, ...]
    q50: tuple[float, ...]
    q90: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.age_h)
        if not n or any(len(q) != n for q in (self.q10, self.q50, self.q90)):
            raise ValueError("a duration model needs one q10, q50 and q90 per age bucket")
        if self.age_h[0] != 0 or any(b <= a for a, b in zip(self.age_h, self.age_h[1:], strict=False)):
            raise ValueError("age buckets must start at 0 and increase")
        for lo, mid, hi in zip(self.q10, self.q50, self.q90, strict=True):
            if not 0 < lo <= mid <= hi:
                raise ValueError(
                    f"duration quantiles must satisfy 0 < q10 <= q50 <= q90, got {lo}, {mid}, {hi}"
                )

    def quantiles(self, age_s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        k = np.searchsorted(np.asarray(self.age_h), np.asarray(age_s) / 3600.0, side="right") - 1
        k = np.clip(k, 0, len(self.age_h) - 1)
        return np.asarray(self.q10)[k], np.asarray(self.q50)[k], np.asarray(self.q90)[k]

    def to_dict(self) -> dict[str, Any]:
        return {
            "age_h": list(self.age_h),
            "q10": list(self.q10),
            "q50": list(self.q50),
            "q90": list(self.q90),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DurationModel:
        return cls(*(tuple(float(v) for v in data[k]) for k in ("age_h", "q10", "q50", "q90")))


def copernican_model() -> DurationModel:
    """The default without a fitted table: median remaining = age + 1 day, 80 % interval x/4 .. 4x."""
    ages = (0.0, 1.0, 6.0, 24.0, 72.0, 168.0)
    mids = tuple(min(MAX_HORIZON_DAYS, a / 24.0 + 1.0) for a in ages)
    return DurationModel(
        ages, tuple(m / 4 for m in mids), mids, tuple(min(4 * m, 4 * MAX_HORIZON_DAYS) for m in mids)
    )


@dataclass(frozen=True, eq=False)
class AdvantageState:
    """Per service: tracked target and base (candidate indices), since/last (epoch s), EWMA mean/var."""

    services: tuple[str, ...]
    placement_keys: tuple[str, ...]
    target: IntArray
    base: IntArray
    since: FloatArray
    last: FloatArray
    mean: FloatArray
    var: FloatArray

    @classmethod
    def empty(cls, services: Sequence[str], placement_keys: Sequence[str]) -> AdvantageState:
        n = len(services)
        return cls(
            tuple(services),
            tuple(placement_keys),
            np.full(n, NO_TARGET, dtype=np.intp),
            np.full(n, NO_TARGET, dtype=np.intp),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n),
        )

    def aligned(self, services: Sequence[str], placement_keys: Sequence[str]) -> AdvantageState:
        """This state re-indexed for another service/candidate order (unknown entries start empty)."""
        services, placement_keys = tuple(services), tuple(placement_keys)
        if services == self.services and placement_keys == self.placement_keys:
            return self
        out = AdvantageState.empty(services, placement_keys)
        col = {k: i for i, k in enumerate(placement_keys)}
        remap = np.array([col.get(k, NO_TARGET) for k in self.placement_keys] + [NO_TARGET], dtype=np.intp)
        row = {s: i for i, s in enumerate(self.services)}
        for i, name in enumerate(services):
            j = row.get(name)
            if j is None:
                continue
            out.target[i], out.base[i] = remap[self.target[j]], remap[self.base[j]]
            out.since[i], out.last[i] = self.since[j], self.last[j]
            out.mean[i], out.var[i] = self.mean[j], self.var[j]
        return out

    def updated(self, target: IntArray, base: IntArray, g: FloatArray, now_s: float) -> AdvantageState:
        """The state after observing relative advantage ``g`` of ``target`` over ``base`` at ``now_s``."""
        valid = (target >= 0) & (base >= 0) & (target != base) & np.isfinite(g)
        # The advantage is that of moving away from ``base``: a lead passing between two similar targets
        # (two regions of one provider under the same price cut) continues it; it ends when staying is
        # best again or the service moved.
        same = valid & (self.target >= 0) & (base == self.base)
        fresh = valid & ~same
        dt = np.maximum(now_s - self.last, 0.0)
        alpha = 1.0 - np.exp(-dt / TAU_S)
        g0 = np.where(valid, g, 0.0)
        diff = g0 - self.mean
        mean = np.where(same, self.mean + alpha * diff, np.where(fresh, g0, 0.0))
        var = np.where(
            same, (1.0 - alpha) * (self.var + alpha * diff * diff), np.where(fresh, PRIOR_SD**2, 0.0)
        )
        return AdvantageState(
            self.services,
            self.placement_keys,
            np.where(valid, target, NO_TARGET).astype(np.intp),
            np.where(valid, base, NO_TARGET).astype(np.intp),
            np.where(same, self.since, np.where(fresh, now_s, 0.0)),
            np.where(valid, now_s, 0.0),
            mean,
            var,
        )

    def age_s(self, now_s: float) -> FloatArray:
        out: FloatArray = np.where(self.target >= 0, np.maximum(now_s - self.since, 0.0), 0.0)
        return out

    def standard_error(self, now_s: float) -> FloatArray:
        """Standard error of the advantage's mean: ``sd / sqrt(n_eff)`` (module docstring)."""
        n_eff = 1.0 + np.minimum(self.age_s(now_s), TAU_S) / CORR_S
        out: FloatArray = np.sqrt(np.maximum(self.var, PRIOR_SD**2 / 4)) / np.sqrt(n_eff)
        return out

    def evidence(self, now_s: float) -> FloatArray:
        """z: the advantage's mean over its standard error (0 when nothing is tracked)."""
        out: FloatArray = np.where(self.target >= 0, self.mean / self.standard_error(now_s), 0.0)
        return out

    def to_dict(self) -> dict[str, Any]:
        keys = self.placement_keys
        out: dict[str, Any] = {}
        for i, name in enumerate(self.services):
            if self.target[i] >= 0:
                out[name] = {
                    "target": keys[int(self.target[i])],
                    "base": keys[int(self.base[i])],
                    "since": float(self.since[i]),
                    "last": float(self.last[i]),
                    "mean": float(self.mean[i]),
                    "var": float(self.var[i]),
                }
        return {"advantage": out}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], services: Sequence[str], placement_keys: Sequence[str]
    ) -> AdvantageState:
        out = cls.empty(services, placement_keys)
        col = {k: i for i, k in enumerate(placement_keys)}
        rows: Mapping[str, Mapping[str, Any]] = data.get("advantage", {})
        for i, name in enumerate(out.services):
            row = rows.get(name)
            if not row or row.get("target") not in col or row.get("base") not in col:
                continue
            out.target[i], out.base[i] = col[row["target"]], col[row["base"]]
            out.since[i], out.last[i] = float(row["since"]), float(row["last"])
            out.mean[i], out.var[i] = float(row["mean"]), float(row["var"])
        return out


@dataclass(frozen=True, eq=False)
class ForecastArrays:
    """Per service (length S): advantage age and evidence, duration quantiles, payback, horizon saving."""

    age_s: FloatArray
    evidence: FloatArray
    days_low: FloatArray
    days_mid: FloatArray
    days_high: FloatArray
    payback_days: FloatArray
    outlasts_payback: FloatArray
    """P(the advantage lasts longer than the payback time)."""
    pays_within_horizon: FloatArray
    """P(the expected saving over the payback horizon exceeds the move's one-time cost)."""
    horizon_net_usd: FloatArray


def outlasts_payback(model: DurationModel, age_s: FloatArray, payback_days: FloatArray) -> FloatArray:
    """P(the advantage lasts longer than ``payback_days``): a log-normal through the duration model's
    quantiles at the advantage's age (1 without a one-time cost, 0 when it never pays back)."""
    lo, mid, hi = (np.minimum(q, MAX_HORIZON_DAYS) for q in model.quantiles(age_s))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.maximum(np.log(hi / lo) / (2 * Z_80), 1e-3)
        zp = (np.log(np.maximum(payback_days, 1e-9)) - np.log(mid)) / sigma
    out: FloatArray = np.where(
        payback_days <= 0, 1.0, np.where(np.isfinite(payback_days), 1.0 - norm_cdf(zp), 0.0)
    )
    return out


def forecast(
    state: AdvantageState,
    now_s: float,
    model: DurationModel,
    *,
    current_monthly: FloatArray,
    migration_usd: FloatArray,
    horizon_days: float,
) -> ForecastArrays:
    """Duration quantiles, payback and horizon saving for every service's tracked target.

    The saving per day is the *smoothed* advantage (``state.mean`` x current monthly / 30.44), not the
    cycle's own price gap: a target picked because price noise made it look cheapest right now looks
    less so once the noise is averaged out (the winner's curse of picking the best of many noisy
    candidates). ``pays_within_horizon`` is ``Phi((mean - need) / (2 x se))``, ``need`` being the
    relative advantage that earns ``migration_usd`` back in ``horizon_days`` and ``se`` the standard
    error of the mean (the same as in :meth:`AdvantageState.evidence`; halved slope as there).
    """
    age = state.age_s(now_s)
    lo, mid, hi = model.quantiles(age)
    lo, mid, hi = (np.minimum(q, MAX_HORIZON_DAYS) for q in (lo, mid, hi))
    tracked = state.target >= 0
    mean = np.where(tracked, state.mean, 0.0)
    per_day = np.maximum(current_monthly * mean, 0.0) / DAYS_PER_MONTH
    se = state.standard_error(now_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        payback = np.where(migration_usd <= 0, 0.0, np.where(per_day > 0, migration_usd / per_day, np.inf))
        need = np.where(
            current_monthly > 0, migration_usd * DAYS_PER_MONTH / (current_monthly * horizon_days), np.inf
        )
        zh = (mean - need) / (2.0 * se)
    outlasts = outlasts_payback(model, age, payback)
    pays = norm_cdf(np.clip(np.nan_to_num(zh, nan=-50.0), -50.0, 50.0))
    horizon = current_monthly * mean * mid / DAYS_PER_MONTH - migration_usd
    return ForecastArrays(
        age_s=age,
        evidence=state.evidence(now_s),
        days_low=np.where(tracked, lo, 0.0),
        days_mid=np.where(tracked, mid, 0.0),
        days_high=np.where(tracked, hi, 0.0),
        payback_days=payback,
        outlasts_payback=np.where(tracked, outlasts, 0.0),
        pays_within_horizon=np.where(tracked, pays, 0.0),
        horizon_net_usd=np.where(tracked, horizon, 0.0),
    )


def gpu_capacity_risk(gpu_availability: FloatArray, floor: float, is_gpu: BoolArray) -> FloatArray:
    """P(the target still has the GPU capacity when the move is applied): the GPU availability signal
    swings with sd ~0.1 (GPU_STD), an apply fails below ``floor``. 1 for services without GPUs."""
    p = norm_cdf((np.nan_to_num(gpu_availability, nan=0.0) - floor) / 0.10)
    out: FloatArray = np.where(is_gpu, p, 1.0)
    return out
