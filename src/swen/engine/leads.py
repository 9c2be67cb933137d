"""Clear leads: an advantage too large to be price noise gets the duration rule for price changes (pure).

The fitted duration table (``forecast.DurationModel``, keyed on the age of the advantage only) is
learnt from every lead the gate saw in replays, and most young leads are price noise, which reverts
within hours: the table gives any lead 1-24 h old a median of 0.15-0.21 days. A scheduled price change
(a GPU surge, a stock-out spike, a list-price gap between regions) is not noise, but the table cannot
tell it from noise, so its move waits until the lead is a day old (gpu-squeeze's A100 surge: 30 %
cheaper, evidence z 2-10, confidence 0.50 for 23 h; docs/BENCHMARKS.md, gpucap).

A lead is **clear** when its smoothed advantage (``AdvantageState.mean``: the exponentially weighted
mean of the relative advantage, time constant ``forecast.TAU_S`` = 6 h) stands at least
:data:`CLEAR_WIDTHS` prior noise widths (``forecast.PRIOR_SD``, the spread of a single price gap) above
zero. Price noise cannot hold that: the gap between two offers swings with sd ~5-6 % and reverts
within ~2 h, so its 6-h mean has a spread of ~3 % and a 15 % smoothed lead is ~5 of those. A clear
lead's remaining duration is the longer-lived of the fitted table and the rule the engine uses without
a table, the Copernican rule (``forecast.copernican_model``: median = age + 1 day, 80 % interval a
quarter to four times that), age bucket by age bucket (:func:`longer_lived`): where the table already
expects more (leads under an hour old, leads a day or more old) it is kept; where it expects the lead
to end within hours because most leads of that age were noise (1-24 h), the rule is used. A lead that
is not clear keeps the table. Everything else about the move is unchanged: ``P(pays within the
horizon)`` (which holds the evidence), the GPU capacity risk, freshness, the calibration, the savings
bar, the route. The duration shown in the explanation is the one used, and the explanation says when
the rule lengthened it (:func:`clear_lead_phrase`).

Measured (docs/BENCHMARKS.md, gpucap): gpu-squeeze captures 0.71 -> 0.80 of the oracle, gpu-scarcity
0.81 -> 0.87; calm-month is unchanged.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np

from swen.domain.arrays import BoolArray, FloatArray
from swen.engine.forecast import (
    PRIOR_SD,
    AdvantageState,
    DurationModel,
    ForecastArrays,
    copernican_model,
    forecast,
)

CLEAR_WIDTHS = 3.0
"""How many prior noise widths (``PRIOR_SD``) a smoothed advantage must reach to be a clear lead.
Measured on the seven scenarios (docs/BENCHMARKS.md, gpucap): 4 gives the same figures; at 2 price
noise passes (gpu-squeeze: 80.8 % of auto-approved moves net positive, against 94.5 %)."""
CLEAR_LEAD = CLEAR_WIDTHS * PRIOR_SD
"""The smoothed relative advantage (0.15: 15 % of the current monthly cost) of a clear lead."""


def longer_lived(model: DurationModel, rule: DurationModel) -> DurationModel:
    """Per age bucket (both models' edges), the quantiles of whichever model expects the longer
    remaining duration (the larger median): ``model`` where it already expects the advantage to last
    longer than ``rule``, ``rule`` where it expects it to end sooner."""
    edges = sorted({*model.age_h, *rule.age_h})
    at = np.asarray(edges, dtype=np.float64) * 3600.0
    a, b = model.quantiles(at), rule.quantiles(at)
    pick = b[1] > a[1]
    lo, mid, hi = (np.where(pick, qb, qa) for qa, qb in zip(a, b, strict=True))
    return DurationModel(
        tuple(float(e) for e in edges),
        tuple(float(v) for v in lo),
        tuple(float(v) for v in mid),
        tuple(float(v) for v in hi),
    )


@lru_cache(maxsize=16)
def clear_lead_model(model: DurationModel) -> DurationModel:
    """The duration model of a clear lead when ``model`` is the fitted one: :func:`longer_lived` of it
    and the Copernican rule. Kept per model (a fold's table does not change between cycles; it was
    rebuilt every cycle: 0.76 of the 26 s the engine took under cProfile, price-duel at 1,000 services)."""
    return longer_lived(model, copernican_model())


def clear_leads(state: AdvantageState) -> BoolArray:
    """Services whose tracked advantage is a clear lead (module docstring)."""
    out: BoolArray = (state.target >= 0) & (state.mean >= CLEAR_LEAD)
    return out


def lead_forecast(
    state: AdvantageState,
    now_s: float,
    model: DurationModel,
    clear_model: DurationModel,
    *,
    current_monthly: FloatArray,
    migration_usd: FloatArray,
    horizon_days: float,
) -> tuple[ForecastArrays, BoolArray]:
    """``forecast.forecast`` with ``model`` for every lead but the clear ones, which get
    ``clear_model``; and the mask of the clear leads whose forecast that changed (the explanation
    says so: :func:`clear_lead_phrase`)."""
    outlook = forecast(
        state,
        now_s,
        model,
        current_monthly=current_monthly,
        migration_usd=migration_usd,
        horizon_days=horizon_days,
    )
    clear = clear_leads(state)
    if not clear.any() or clear_model == model:
        return outlook, np.zeros(len(clear), dtype=bool)
    rows = np.flatnonzero(clear)
    sub = forecast(
        _rows(state, rows),
        now_s,
        clear_model,
        current_monthly=current_monthly[rows],
        migration_usd=migration_usd[rows],
        horizon_days=horizon_days,
    )
    merged = {}
    for f in dataclasses.fields(ForecastArrays):
        full = getattr(outlook, f.name).astype(np.float64, copy=True)
        full[rows] = getattr(sub, f.name)
        merged[f.name] = full
    changed = np.zeros(len(clear), dtype=bool)
    changed[rows] = sub.days_mid != outlook.days_mid[rows]
    return ForecastArrays(**merged), changed


def clear_lead_phrase(mean: float) -> str:
    """What the rule did, for the explanation of a clear lead's decision."""
    return (
        f"a clear lead (smoothed advantage {mean * 100:+.0f} %, at least {CLEAR_LEAD * 100:.0f} %: more "
        "than price noise holds), so its duration follows the rule for price changes (median: its "
        "age + 1 day), not the shorter one fitted on leads that were mostly noise"
    )


def _rows(state: AdvantageState, rows: np.ndarray) -> AdvantageState:
    """The state of the given rows only (the forecast reads its arrays, not the names)."""
    names = tuple(state.services[int(i)] for i in rows)
    return AdvantageState(
        names,
        state.placement_keys,
        state.target[rows],
        state.base[rows],
        state.since[rows],
        state.last[rows],
        state.mean[rows],
        state.var[rows],
    )
