"""Fit the packaged confidence calibration on the gate's decisions in replays, leave-one-scenario-out.

``fit_table(scenarios)`` (``scripts/calibrate_confidence.py`` writes its result to
``src/swen/data/confidence_calibration.json``). What is calibrated is what the report scores
(``backtest.calibration.replay_calibration``): the confidence of every decision that reaches the
policy gate in a replay of the *generated* fleet (``--services``), with the engine settings the
backtest uses (``BacktestConfig.engine_params``: the replay's amortisation, the scenario's
migration-cost model), labelled with the report's own label (``hindsight.bill_verdict``: the bill's
verdict on the move held three days, credits and the migration cost the bill charges included; moves
made for the SLO or health left out, as in the report).

1. **Round 1**: each scenario is replayed with its fold of the starting table (the previous packaged
   table, whose fold ``X`` never saw ``X``: the decisions the platform makes today), or with the raw
   probability as confidence (identity curve, default duration model) when there is none. A gate
   observer (``PlatformReplay.gate_observer``) notes, for each gate
   decision, the parts of its raw probability (``P(pays within the horizon)``, payback, age of the
   advantage, GPU capacity, freshness) and the confidence the replay used; the decision is labelled,
   and how long its advantage really lasted is measured (``remaining_days``).
2. **Folds**: fold ``X`` is fitted on every scenario but ``X`` (``all`` on all of them): the duration
   model (10/50/90 % quantiles of the realised remaining duration per age bucket, of the leads that
   were not clear: ``engine.leads``), then the raw
   probability recomputed with that duration model, and scikit-learn's ``IsotonicRegression`` on
   (raw, label).
3. **Rounds 2..N** (when asked for): the gate's decisions depend on the curve (a stateless move is
   proposed once its calibrated confidence clears the gate's 0.85), so each scenario is replayed
   again with its own fold of the previous round, and the folds are refitted on the decisions of
   every round so far (``fit_on="all"``, the default) or of that round only (``fit_on="last"``: the
   population the table is used on, but measured to overshoot: one step from the packaged table,
   before the curve's low end was held to the identity, lifted raw 0.53 to 0.87, and calm-month
   opened 1,056 merge requests, 41 % of its gate decisions net positive; docs/BENCHMARKS.md).
   Each round's scenario ``X`` was decided with a fold that never saw ``X``, so the expected
   calibration error of the confidence the replay used is the held-out score the backtest report
   gives that fold: ``provenance.rounds_ece`` lists it per round, which shows whether the fit has
   settled.
4. **Held-out check** of the final folds: fold ``X`` scores scenario ``X``'s last-round decisions
   (expected calibration error, calibrated and raw; coverage of the duration model's 80 % interval).

Fold ``X`` never saw scenario ``X``; the backtest scores ``X`` with it
(``CalibrationTable.for_scenario``), and a scenario outside the table with ``all``. Replays are
deterministic (each scenario's seed), and so is the fit: the same scenarios and settings give the same
table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from swen.backtest.calibration import GATE_EVENTS, LABEL, hindsight_positive, remaining_days
from swen.backtest.hindsight import service_move
from swen.backtest.runner import BacktestConfig, prepare
from swen.backtest.spec import load_spec
from swen.backtest.strategies import PlatformReplay
from swen.domain.decision import Decision
from swen.engine.calibration import CalibrationTable, Fold, expected_calibration_error
from swen.engine.forecast import DurationModel, copernican_model, outlasts_payback
from swen.engine.leads import clear_leads, longer_lived
from swen.pipeline.policy import PolicyGate

AGE_BUCKETS_H = (0.0, 1.0, 6.0, 24.0, 72.0, 168.0)
MIN_BUCKET = 30
IDENTITY = ((0.0, 1.0), (0.0, 1.0))
ROUNDS = 2
FIT_ON = ("all", "last")
"""Which rounds' decisions each round's folds are fitted on: every round so far (pooled; the default,
the method of the packaged table) or the last round only."""

Log = Callable[[str], None]
_FIELDS = (
    "pays",
    "payback",
    "age_s",
    "gpu",
    "fresh",
    "days",
    "positive",
    "auto",
    "engine_raw",
    "used",
    "stateful",
    "clear",
)


@dataclass
class GateSamples:
    """The labelled gate decisions of one replay (one entry per decision in every array)."""

    pays: npt.NDArray[np.float64]
    payback: npt.NDArray[np.float64]
    age_s: npt.NDArray[np.float64]
    gpu: npt.NDArray[np.float64]
    fresh: npt.NDArray[np.float64]
    days: npt.NDArray[np.float64]
    """How long the advantage really lasted after the decision (censored at the replay's end)."""
    positive: npt.NDArray[np.bool_]
    auto: npt.NDArray[np.bool_]
    engine_raw: npt.NDArray[np.float64]
    """The raw probability the engine computed in the replay (with the replay's duration model)."""
    used: npt.NDArray[np.float64]
    """The confidence the replay's engine used (its fold applied to ``engine_raw``): what the report
    scores."""
    stateful: npt.NDArray[np.bool_]
    clear: npt.NDArray[np.bool_]
    """The lead was clear when the move was proposed (``engine.leads``): the engine forecast its
    duration with the longer-lived of the table and the default rule, so the table is fitted on the
    other leads only (:func:`fit_fold`)."""

    def __len__(self) -> int:
        return len(self.pays)

    def raw(self, duration: DurationModel) -> npt.NDArray[np.float64]:
        """The engine's raw probability of each decision with ``duration`` as its duration model (and,
        for a clear lead, the longer-lived of it and the default rule, as the engine does)."""
        outlasts = np.where(
            self.clear,
            outlasts_payback(longer_lived(duration, copernican_model()), self.age_s, self.payback),
            outlasts_payback(duration, self.age_s, self.payback),
        )
        out: npt.NDArray[np.float64] = self.pays * outlasts * self.gpu * self.fresh
        return out

    @classmethod
    def concat(cls, parts: Sequence[GateSamples]) -> GateSamples:
        return cls(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS})


def gate_samples(config: BacktestConfig, fold: Fold | None) -> GateSamples:
    """Replay ``config`` with calibration ``fold`` (None: raw confidence, default duration model) and
    return its labelled gate decisions (module docstring)."""
    prepared = prepare(config)
    identity = Fold(fitted_on=(), x=IDENTITY[0], y=IDENTITY[1], samples=0)
    params = config.engine_params(config.params.model_copy(update={"calibration": fold or identity}))
    replay = PlatformReplay(
        prepared.trace,
        prepared.grid,
        prepared.catalog,
        params=params,
        lifecycle=config.lifecycle,
        floors=config.floors,
        gate=PolicyGate(),
    )
    trace, grid = prepared.trace, prepared.grid
    rows: list[tuple[float, ...]] = []
    moves: list[tuple[int, int, int, int]] = []

    def observe(t: int, decision: Decision, outcome: str) -> None:
        if outcome not in GATE_EVENTS or replay.last_result is None:
            return
        cycle = replay.last_result.cycle
        i = cycle.row_of[decision.service]
        s = replay.window.service_index[decision.service]
        c0 = int(replay.column[s])
        window_col = replay.window.placement_index.get(decision.target.key)
        c1 = -1 if window_col is None else replay.grid_column(s, window_col)
        if c1 < 0 or c1 == c0 or service_move(cycle, i):
            return
        o = cycle.outlook
        rows.append(
            (
                float(o.pays_within_horizon[i]),
                float(o.payback_days[i]),
                float(o.age_s[i]),
                float(cycle.gpu_risk[i]),
                float(cycle.freshness[i]),
                float(outcome == "auto_approve"),
                float(cycle.raw_confidence[i]),
                float(cycle.confidence[i]),
                float(cycle.fleet.services[i].stateful),
                float(clear_leads(replay.last_result.advantage)[i]),
            )
        )
        moves.append((t, s, c0, c1))

    replay.gate_observer = observe
    path = replay.run()
    data = np.array(rows, dtype=np.float64).reshape(-1, 10)
    t, s, c0, c1 = (np.array([m[j] for m in moves], dtype=np.int64) for j in range(4))
    labelled, positive = hindsight_positive(trace, grid, path, t, s, c0, c1)
    lasted, _ = remaining_days(trace, grid, t, s, c0, c1)
    keep = labelled
    return GateSamples(
        pays=data[keep, 0],
        payback=data[keep, 1],
        age_s=data[keep, 2],
        gpu=data[keep, 3],
        fresh=data[keep, 4],
        days=lasted[keep],
        positive=positive[keep],
        auto=data[keep, 5].astype(bool),
        engine_raw=data[keep, 6],
        used=data[keep, 7],
        stateful=data[keep, 8].astype(bool),
        clear=data[keep, 9].astype(bool),
    )


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
    """Isotonic (non-decreasing) curve raw -> P(positive), as (x, y) knots spanning [0, 1]. Below the
    lowest raw probability in the data the curve is no higher than the raw probability (straight from
    (0, 0) to the first knot, or the identity up to it when the first knot lies above the diagonal):
    the gate only sees moves above the proposal bars, so nothing supports a confidence there (a flat
    extension, or a line to a first knot above the diagonal, would lift faint advantages the fit never
    saw over the proposal bars)."""
    from sklearn.isotonic import IsotonicRegression  # offline tool: scikit-learn (extra "calibrate")

    if not len(raw):
        return IDENTITY
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(raw, positive.astype(np.float64))
    x = [float(v) for v in model.X_thresholds_]
    y = [float(v) for v in model.y_thresholds_]
    if x[0] > 0.0:  # below the lowest raw probability seen: no evidence, so no more than the raw value
        if y[0] > x[0]:  # identity up to the first knot, not a line lifting raw values never seen
            edge = max(0.0, x[0] - 1e-6)
            x.insert(0, edge)
            y.insert(0, edge)
        x.insert(0, 0.0)
        y.insert(0, 0.0)
    if x[-1] < 1.0:
        x.append(1.0)
        y.append(y[-1])
    return tuple(round(v, 6) for v in x), tuple(round(v, 6) for v in y)


def fit_fold(train: Sequence[str], samples: GateSamples) -> Fold:
    """Duration model (fitted on the leads that were not clear: the engine reads the table for those
    only, a clear lead taking the longer-lived of it and the default rule), then the isotonic curve on
    the raw probability it gives (module docstring)."""
    noise = ~samples.clear
    duration = fit_duration(samples.age_s[noise], samples.days[noise])
    x, y = fit_isotonic(samples.raw(duration), samples.positive)
    return Fold(fitted_on=tuple(train), x=x, y=y, samples=len(samples), duration=duration.to_dict())


def fit_table(
    scenarios: Sequence[str],
    *,
    days: float | None = None,
    services: int | None = None,
    rounds: int = ROUNDS,
    start: CalibrationTable | None = None,
    start_note: str | None = None,
    fit_on: str = "all",
    jobs: int = 1,
    log: Log = lambda _m: None,
) -> CalibrationTable:
    """The leave-one-scenario-out calibration table (module docstring). ``start``: the table whose
    folds round 1 replays with (the previous table: its fold ``X`` never saw ``X``; None: the raw
    probability; ``start_note`` says which, in the provenance). ``jobs``: replays run at once
    (processes; the result does not depend on it)."""
    if len(set(scenarios)) < 2:
        raise ValueError("leave-one-scenario-out needs at least two distinct scenarios")
    if fit_on not in FIT_ON:
        raise ValueError(f"fit_on must be one of {', '.join(FIT_ON)}, got {fit_on!r}")
    if start is not None:
        missing = [n for n in scenarios if n not in start.folds]
        if missing:
            raise ValueError(
                f"the starting table has no fold for {', '.join(missing)}: start from the raw probability "
                "(--start raw) or from a table fitted on these scenarios"
            )
    configs = {}
    for name in scenarios:
        spec = load_spec(name)
        configs[name] = BacktestConfig(
            spec=spec, days=days if days is not None else spec.days, seed=spec.seed, services=services
        )
    folds: dict[str, Fold] = {} if start is None else {n: start.folds[n] for n in scenarios}
    rounds_ece: list[dict[str, float | None]] = []
    found: dict[str, GateSamples] = {}
    per_round: list[dict[str, GateSamples]] = []
    for r in range(max(1, rounds)):
        log(f"round {r + 1}: replaying {', '.join(scenarios)}")
        found = _replay_all(configs, folds, jobs)
        per_round.append(found)
        for name in scenarios:
            held = found[name]
            log(
                f"  {name}: {len(held)} labelled, {int(held.positive.sum())} net positive, ECE of the "
                f"confidence used {_round(expected_calibration_error(held.used, held.positive))}"
            )
        rounds_ece.append(
            {n: _round(expected_calibration_error(found[n].used, found[n].positive)) for n in scenarios}
        )
        rounds_used = per_round if fit_on == "all" else per_round[-1:]
        pooled = {n: GateSamples.concat([rnd[n] for rnd in rounds_used]) for n in scenarios}
        folds = {
            n: fit_fold(others, GateSamples.concat([pooled[o] for o in others]))
            for n in scenarios
            for others in [[o for o in scenarios if o != n]]
        }
        folds["all"] = fit_fold(list(scenarios), GateSamples.concat([pooled[o] for o in scenarios]))
    last = found
    checks: list[dict[str, Any]] = []
    for name in scenarios:
        fold, held = folds[name], last[name]
        duration = fold.duration_model() or copernican_model()
        raw = held.raw(duration)
        ece_raw = expected_calibration_error(raw, held.positive)
        ece_cal = expected_calibration_error(fold.apply(raw), held.positive)
        checks.append(
            {
                "fitted_on": list(fold.fitted_on),
                "samples": fold.samples,
                "held_out": name,
                "held_out_samples": len(held),
                "held_out_positive_share": None if not len(held) else round(float(held.positive.mean()), 4),
                "held_out_ece_raw": _round(ece_raw),
                "held_out_ece_calibrated": _round(ece_cal),
                "held_out_interval80_coverage_fitted": _round(
                    interval_coverage(duration, held.age_s, held.days)
                ),
                "held_out_interval80_coverage_default": _round(
                    interval_coverage(copernican_model(), held.age_s, held.days)
                ),
            }
        )
    checks.append({"fitted_on": list(scenarios), "samples": folds["all"].samples})
    provenance = {
        "generator": "scripts/calibrate_confidence.py (swen.backtest.calibration_fit.fit_table)",
        "method": "scikit-learn IsotonicRegression on (raw confidence, hindsight label) of the decisions "
        "that reached the policy gate in replays of the generated fleet, with the backtest's engine "
        f"settings; {max(1, rounds)} rounds (round 1 with the starting table, then each scenario replayed "
        "with its own fold of the previous round), each round's folds fitted on "
        + ("the decisions of every round so far" if fit_on == "all" else "that round's decisions only")
        + "; duration quantiles per age bucket; fold X fitted without scenario X (leave-one-scenario-out)",
        "fit_on": fit_on,
        "label": LABEL + " (the report's label, backtest.hindsight.bill_verdict)",
        "scenarios": list(scenarios),
        "days": days,
        "services": services,
        "rounds": max(1, rounds),
        "start": start_note or ("raw probability" if start is None else "a previous table"),
        "default_engine_settings": True,
        "rounds_ece": rounds_ece,
        "checks": checks,
    }
    return CalibrationTable.model_validate(
        {"schema": "swen.confidence_calibration/1", "provenance": provenance, "folds": folds}
    )


def _replay_all(
    configs: dict[str, BacktestConfig], folds: dict[str, Fold], jobs: int
) -> dict[str, GateSamples]:
    """``gate_samples`` of every scenario with its fold, ``jobs`` replays at a time."""
    names = list(configs)
    if jobs <= 1:
        return {n: gate_samples(configs[n], folds.get(n)) for n in names}
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        done = pool.map(gate_samples, [configs[n] for n in names], [folds.get(n) for n in names])
        return dict(zip(names, done, strict=True))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
