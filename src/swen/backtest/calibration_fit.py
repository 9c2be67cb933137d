"""Fit the packaged confidence calibration on replays, cross-fitted by scenario (offline tool).

``fit_table(scenarios)`` (``scripts/calibrate_confidence.py`` writes its result to
``src/swen/data/confidence_calibration.json``):

1. Each scenario is replayed through the real engine, gate and lifecycle with the default engine
   settings; a :class:`~swen.backtest.calibration.CandidateSampler` notes every candidate move.
2. **Duration model** per fold: for each age bucket, the 10/50/90 % quantiles of how long the advantage
   really lasted (``remaining_days``; censored durations count as observed, which errs short).
3. **Isotonic curve** per fold: the scenarios of the fold are replayed again with the fold's duration
   model (raw confidence, no curve), each sampled move labelled with ``hindsight_positive``, and
   scikit-learn's ``IsotonicRegression`` fitted on (raw, label).
4. **Held-out check**: the fold's left-out scenario is replayed with the fold's duration model, its
   raw confidences mapped through the fold's curve and compared with the labels (expected calibration
   error), and the duration model's 80 % interval coverage compared with the default (Copernican) one.

Fold ``X`` is fitted on every scenario but ``X``; fold ``all`` on all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from swen.backtest.calibration import CandidateSampler, hindsight_positive, remaining_days
from swen.backtest.runner import BacktestConfig, Prepared, prepare
from swen.backtest.spec import load_spec
from swen.backtest.strategies import PlatformReplay
from swen.engine.calibration import HINDSIGHT_HORIZON_S, CalibrationTable, Fold, expected_calibration_error
from swen.engine.forecast import DurationModel, copernican_model
from swen.engine.params import EngineParams
from swen.pipeline.policy import PolicyGate

AGE_BUCKETS_H = (0.0, 1.0, 6.0, 24.0, 72.0, 168.0)
MIN_BUCKET = 30
MAX_DURATION_SAMPLES = 3000
IDENTITY = ((0.0, 1.0), (0.0, 1.0))

Log = Callable[[str], None]


@dataclass
class Samples:
    t: npt.NDArray[np.int64]
    s: npt.NDArray[np.int64]
    c0: npt.NDArray[np.int64]
    c1: npt.NDArray[np.int64]
    raw: npt.NDArray[np.float64]
    age_s: npt.NDArray[np.float64]


def sample(prepared: Prepared, params: EngineParams, every: int) -> Samples:
    """Replay ``prepared`` with ``params`` and return the sampled candidate moves."""
    config = prepared.config
    replay = PlatformReplay(
        prepared.trace,
        prepared.grid,
        prepared.catalog,
        params=params,
        lifecycle=config.lifecycle,
        floors=config.floors,
        gate=PolicyGate(),
    )
    sampler = CandidateSampler(replay, every=every)
    replay.observer = sampler
    replay.run()
    a = sampler.arrays()
    return Samples(a["t"], a["s"], a["c0"], a["c1"], a["raw"], a["age_s"])


def fit_duration(ages_s: npt.NDArray[np.float64], days: npt.NDArray[np.float64]) -> DurationModel:
    """Empirical 10/50/90 % quantiles of the remaining days per age bucket (default where too few)."""
    default = copernican_model()
    d_lo, d_mid, d_hi = default.quantiles(np.array(AGE_BUCKETS_H) * 3600.0)
    edges = [*AGE_BUCKETS_H, np.inf]
    floor = 1.0 / 24.0
    q10, q50, q90 = [], [], []
    for k in range(len(AGE_BUCKETS_H)):
        sel = (ages_s / 3600.0 >= edges[k]) & (ages_s / 3600.0 < edges[k + 1])
        if np.count_nonzero(sel) < MIN_BUCKET:
            q10.append(float(d_lo[k]))
            q50.append(float(d_mid[k]))
            q90.append(float(d_hi[k]))
            continue
        lo, mid, hi = (max(floor, float(v)) for v in np.quantile(days[sel], [0.1, 0.5, 0.9]))
        q10.append(lo)
        q50.append(max(lo, mid))
        q90.append(max(lo, mid, hi))
    return DurationModel(AGE_BUCKETS_H, tuple(q10), tuple(q50), tuple(q90))


def interval_coverage(
    model: DurationModel, ages_s: npt.NDArray[np.float64], days: npt.NDArray[np.float64]
) -> float | None:
    if not len(days):
        return None
    lo, _, hi = model.quantiles(ages_s)
    return float(np.mean((days >= lo) & (days <= hi)))


def fit_isotonic(
    raw: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from sklearn.isotonic import IsotonicRegression  # offline tool: scikit-learn (extra "calibrate")

    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(raw, positive.astype(np.float64))
    x = [float(v) for v in model.X_thresholds_]
    y = [float(v) for v in model.y_thresholds_]
    if x[0] > 0.0:
        x.insert(0, 0.0)
        y.insert(0, y[0])
    if x[-1] < 1.0:
        x.append(1.0)
        y.append(y[-1])
    return tuple(round(v, 6) for v in x), tuple(round(v, 6) for v in y)


def fit_table(
    scenarios: Sequence[str],
    *,
    days: float | None = None,
    services: int | None = None,
    every: int = 3,
    log: Log = lambda _m: None,
) -> CalibrationTable:
    """The cross-fitted calibration table (module docstring)."""
    prepared: dict[str, Prepared] = {}
    for name in scenarios:
        spec = load_spec(name)
        log(f"trace and oracle: {name}")
        prepared[name] = prepare(
            BacktestConfig(
                spec=spec, days=days if days is not None else spec.days, seed=spec.seed, services=services
            )
        )
    base = EngineParams()
    durations: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = {}
    for name, prep in prepared.items():
        log(f"durations: {name}")
        smp = sample(prep, base, every)
        rng = np.random.default_rng(0)
        pick = np.sort(rng.permutation(len(smp.t))[:MAX_DURATION_SAMPLES])
        lasted, _ = remaining_days(
            prep.trace, prep.grid, smp.t[pick], smp.s[pick], smp.c0[pick], smp.c1[pick]
        )
        durations[name] = (smp.age_s[pick], lasted)

    def fold_for(train: Sequence[str], held_out: str | None) -> tuple[Fold, dict[str, Any]]:
        ages = np.concatenate([durations[n][0] for n in train])
        lasted = np.concatenate([durations[n][1] for n in train])
        duration = fit_duration(ages, lasted)
        probe = base.model_copy(
            update={
                "calibration": Fold(
                    fitted_on=tuple(train),
                    x=IDENTITY[0],
                    y=IDENTITY[1],
                    samples=0,
                    duration=duration.to_dict(),
                )
            }
        )
        raws, labels = [], []
        for n in train:
            log(f"fold {held_out or 'all'}: labels on {n}")
            raw, pos = _labelled(prepared[n], probe, every)
            raws.append(raw)
            labels.append(pos)
        x, y = fit_isotonic(np.concatenate(raws), np.concatenate(labels))
        fold = Fold(
            fitted_on=tuple(train),
            x=x,
            y=y,
            samples=int(sum(len(r) for r in raws)),
            duration=duration.to_dict(),
        )
        check: dict[str, Any] = {"fitted_on": list(train), "samples": fold.samples}
        if held_out is not None:
            log(f"fold {held_out}: held-out check")
            raw, pos = _labelled(prepared[held_out], probe, every)
            ages_h, lasted_h = durations[held_out]
            ece_raw = expected_calibration_error(raw, pos)
            ece_cal = expected_calibration_error(fold.apply(raw), pos)
            check.update(
                {
                    "held_out": held_out,
                    "held_out_samples": len(raw),
                    "held_out_positive_share": None if not len(pos) else round(float(pos.mean()), 4),
                    "held_out_ece_raw": None if ece_raw is None else round(ece_raw, 4),
                    "held_out_ece_calibrated": None if ece_cal is None else round(ece_cal, 4),
                    "held_out_interval80_coverage_fitted": _round(
                        interval_coverage(duration, ages_h, lasted_h)
                    ),
                    "held_out_interval80_coverage_default": _round(
                        interval_coverage(copernican_model(), ages_h, lasted_h)
                    ),
                }
            )
        return fold, check

    folds: dict[str, Fold] = {}
    checks: list[dict[str, Any]] = []
    for name in scenarios:
        fold, check = fold_for([n for n in scenarios if n != name], name)
        folds[name] = fold
        checks.append(check)
    folds["all"], check_all = fold_for(list(scenarios), None)
    checks.append(check_all)
    provenance = {
        "generator": "scripts/calibrate_confidence.py (swen.backtest.calibration_fit.fit_table)",
        "method": "scikit-learn IsotonicRegression on (raw confidence, hindsight label) of candidate moves "
        "sampled from replays; duration quantiles per age bucket; fold X fitted without scenario X",
        "label": f"net positive {HINDSIGHT_HORIZON_S / 86400:.0f} days after the decision, after the "
        "migration cost the backtest charges",
        "scenarios": list(scenarios),
        "days": days,
        "services": services,
        "sample_every_steps": every,
        "default_engine_settings": True,
        "checks": checks,
    }
    return CalibrationTable.model_validate(
        {"schema": "swen.confidence_calibration/1", "provenance": provenance, "folds": folds}
    )


def _labelled(
    prep: Prepared, params: EngineParams, every: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    smp = sample(prep, params, every)
    labelled, positive = hindsight_positive(prep.trace, prep.grid, smp.t, smp.s, smp.c0, smp.c1)
    return smp.raw[labelled], positive[labelled]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
