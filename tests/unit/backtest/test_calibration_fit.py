"""The offline calibration fit (backtest/calibration_fit.py) on real, small replays, with scikit-learn."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from swen.backtest.calibration_fit import (
    GateSamples,
    fit_duration,
    fit_fold,
    fit_isotonic,
    fit_table,
    gate_samples,
)
from swen.backtest.runner import BacktestConfig
from swen.backtest.spec import load_spec
from swen.engine.calibration import expected_calibration_error
from swen.engine.forecast import copernican_model

pytest.importorskip("sklearn")


def test_isotonic_fit_recovers_the_share_of_positives_and_starts_at_zero() -> None:
    rng = np.random.default_rng(3)
    raw = rng.uniform(0.5, 1.0, 4000)
    positive = rng.uniform(size=raw.size) < (raw - 0.5) * 2  # true P(positive) = 2 x (raw - 0.5)
    x, y = fit_isotonic(raw, positive)
    assert x[0] == 0.0 and y[0] == 0.0 and x[-1] == 1.0  # nothing below the data lifts a faint move
    assert all(b >= a for a, b in itertools.pairwise(y))
    curve = np.interp([0.6, 0.75, 0.9], x, y)
    assert curve == pytest.approx([0.2, 0.5, 0.8], abs=0.08)
    assert float(np.interp(0.25, x, y)) <= float(np.interp(0.5, x, y))


def test_isotonic_fit_lifts_no_raw_probability_below_the_data() -> None:
    rng = np.random.default_rng(4)
    raw = rng.uniform(0.55, 1.0, 2000)
    positive = rng.uniform(size=raw.size) < 0.9  # 90 % positive everywhere the gate saw moves
    x, y = fit_isotonic(raw, positive)
    below = np.linspace(0.0, float(raw.min()) - 1e-5, 50)
    assert np.all(np.interp(below, x, y) <= below + 1e-9)  # never seen: no more than the raw value
    assert float(np.interp(float(raw.min()) + 1e-3, x, y)) > 0.8  # seen: the data's share
    calibrated = np.interp(raw, x, y)
    ece_cal, ece_raw = (
        expected_calibration_error(calibrated, positive),
        expected_calibration_error(raw, positive),
    )
    assert ece_cal is not None and ece_raw is not None and ece_cal < 0.05 < ece_raw


def test_duration_model_takes_the_quantiles_of_each_age_bucket() -> None:
    ages = np.concatenate([np.full(100, 0.5 * 3600), np.full(100, 30 * 3600)])
    days = np.concatenate([np.linspace(0.1, 1.0, 100), np.linspace(2.0, 20.0, 100)])
    model = fit_duration(ages, days)
    _lo, mid, hi = model.quantiles(np.array([0.5 * 3600, 30 * 3600, 200 * 3600]))
    assert mid[0] == pytest.approx(0.55, abs=0.02) and mid[1] == pytest.approx(11.0, abs=0.3)
    assert hi[2] == copernican_model().quantiles(np.array([200 * 3600.0]))[2][0]  # too few: default


def test_clear_leads_stay_out_of_the_duration_table_and_take_the_longer_rule() -> None:
    """The engine reads the fitted table for leads that are not clear only (engine.leads), so the
    table is fitted on those: 40 noise leads 3 h old that lasted 0.1-0.3 days set its 1-6 h bucket,
    not the 40 clear leads of the same age that lasted 3-5 days; a clear lead's raw probability is
    recomputed with the longer-lived of the table and the default rule, as the engine computed it."""
    n = 40
    clear = np.repeat([False, True], n)
    ones = np.ones(2 * n)
    samples = GateSamples(
        pays=ones,
        payback=np.full(2 * n, 0.3),
        age_s=np.full(2 * n, 3 * 3600.0),
        gpu=ones,
        fresh=ones,
        days=np.concatenate([np.linspace(0.1, 0.3, n), np.linspace(3.0, 5.0, n)]),
        positive=clear | (np.arange(2 * n) % 2 == 0),
        auto=np.ones(2 * n, dtype=bool),
        engine_raw=ones,
        used=ones,
        stateful=np.zeros(2 * n, dtype=bool),
        clear=clear,
    )
    fold = fit_fold(["x"], samples)
    duration = fold.duration_model()
    assert duration is not None
    assert float(duration.quantiles(np.array([3 * 3600.0]))[1][0]) == pytest.approx(0.2, abs=0.01)
    raw = samples.raw(duration)
    assert float(raw[n]) > 0.85 > 0.5 > float(raw[0])  # payback 0.3 days: median 1.04 vs 0.2 days


@pytest.fixture(scope="module")
def samples() -> GateSamples:
    spec = load_spec("price-war")
    return gate_samples(BacktestConfig(spec=spec, days=6.0, seed=spec.seed, services=30), None)


def test_gate_samples_are_the_gate_decisions_labelled_as_the_report_labels_them(samples: GateSamples) -> None:
    assert len(samples) > 0
    assert samples.positive.any()
    # the raw probability recomputed from its parts is the one the engine computed in the replay
    assert samples.raw(copernican_model()) == pytest.approx(samples.engine_raw, abs=1e-9)
    assert np.all((samples.pays >= 0) & (samples.pays <= 1)) and np.all(samples.days >= 0)
    # raw confidence (identity curve): a stateless move reaches the gate above the gate's 0.85, a
    # stateful or costlier one above the proposal bar of 0.70
    assert np.all(samples.engine_raw > 0.70) and np.all(samples.engine_raw[samples.auto] > 0.85)
    # the confidence the replay used (what the report scores) is the raw one under the identity curve
    assert samples.used == pytest.approx(samples.engine_raw, abs=1e-12)
    assert samples.stateful.dtype == bool and len(samples.stateful) == len(samples)
    assert samples.clear.dtype == bool and len(samples.clear) == len(samples)


def test_fit_table_leaves_each_scenario_out_of_its_own_fold() -> None:
    table = fit_table(["price-war", "gpu-scarcity"], days=6.0, services=30, rounds=1)
    assert set(table.folds) == {"price-war", "gpu-scarcity", "all"}
    assert table.folds["price-war"].fitted_on == ("gpu-scarcity",)
    assert table.folds["gpu-scarcity"].fitted_on == ("price-war",)
    assert table.folds["all"].fitted_on == ("price-war", "gpu-scarcity")
    assert table.for_scenario("price-war") is table.folds["price-war"]
    assert (
        table.folds["all"].samples == table.folds["price-war"].samples + table.folds["gpu-scarcity"].samples
    )
    for fold in table.folds.values():
        assert fold.duration is not None and fold.x[0] == 0.0 and fold.y[0] == 0.0
    held = [c for c in table.provenance["checks"] if "held_out" in c]
    assert [c["held_out"] for c in held] == ["price-war", "gpu-scarcity"]
    assert all(c["held_out"] not in c["fitted_on"] for c in held)
    assert table.provenance["services"] == 30 and table.provenance["rounds"] == 1
    # the ECE of the confidence each round's replays used, per scenario: how the fit settles
    assert [set(r) for r in table.provenance["rounds_ece"]] == [{"price-war", "gpu-scarcity"}]
    with pytest.raises(ValueError, match="two distinct scenarios"):
        fit_table(["price-war", "price-war"])
    with pytest.raises(ValueError, match="fit_on must be one of all, last"):
        fit_table(["price-war", "gpu-scarcity"], fit_on="first")
    with pytest.raises(ValueError, match="no fold for calm-month"):
        fit_table(["price-war", "calm-month"], start=table)
