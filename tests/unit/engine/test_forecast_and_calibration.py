"""Advantage forecasts, calibration tables, reliability and ECE, and the explanation that says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_factories import ALI_SG, US_EAST, Scenario, cell, engine_params, make_scenario

import swen
from support.builders import service
from swen.domain.decision import DecisionAction
from swen.engine.calibration import CalibrationTable, Fold, expected_calibration_error, reliability
from swen.engine.forecast import TAU_S, AdvantageState, DurationModel, copernican_model, forecast
from swen.engine.params import EngineParams

KEYS = ("aws/us-east-1", "alibaba/ap-southeast-1")


def track(gaps: list[float], step_s: float = 300.0) -> tuple[AdvantageState, float]:
    """Feed one service's relative advantage of candidate 1 over current 0, one value per step."""
    state = AdvantageState.empty(["svc"], KEYS)
    now = 0.0
    for g in gaps:
        target = np.array([1 if g > 0 else -1])
        state = state.updated(target, np.array([0]), np.array([g]), now)
        now += step_s
    return state, now - step_s


# --- forecasts -------------------------------------------------------------------------------------
def test_evidence_separates_a_price_cut_from_noise() -> None:
    rng = np.random.default_rng(1)
    cut, t = track(list(0.25 + 0.03 * rng.standard_normal(24)))
    noise, t2 = track(list(np.abs(0.02 + 0.03 * rng.standard_normal(24))))
    assert float(cut.evidence(t)[0]) > 4
    assert float(noise.evidence(t2)[0]) < 2


def test_advantage_age_restarts_when_staying_is_best_again() -> None:
    """Synthetic series with a known change: 6 h of a 20 % advantage, then it ends, then it returns."""
    step = 300.0
    series = [0.2] * 72 + [-0.1] * 3 + [0.2] * 12
    state, now = track(series, step)
    assert float(state.age_s(now)[0]) == pytest.approx(11 * step)  # counted from the return, not the start
    before, now_b = track(series[:72], step)
    assert float(before.age_s(now_b)[0]) == pytest.approx(71 * step)


def test_ewma_mean_follows_a_change_with_its_time_constant() -> None:
    step = 300.0
    n_after = int(TAU_S / step)  # one time constant after the gap drops from 0.30 to 0.10
    state, _ = track([0.30] * 100 + [0.10] * n_after, step)
    expected = 0.10 + 0.20 * np.exp(-n_after * step / TAU_S)
    assert float(state.mean[0]) == pytest.approx(expected, rel=0.02)


def test_duration_horizon_grows_with_the_age_of_the_advantage() -> None:
    model = copernican_model()
    lo, mid, hi = model.quantiles(np.array([0.0, 3 * 86400.0, 10 * 86400.0]))
    assert list(mid) == sorted(mid) and mid[0] == pytest.approx(1.0)
    assert np.all(lo <= mid) and np.all(mid <= hi)


def test_forecast_horizon_saving_and_payback() -> None:
    model = DurationModel((0.0,), (1.0,), (4.0,), (16.0,))  # log-symmetric: median 4 days, x/4 .. 4x
    state, now = track([0.2] * 12)  # a steady 20 % advantage
    state2 = AdvantageState.from_dict(
        {"advantage": {n: state.to_dict()["advantage"]["svc"] for n in ("a", "b")}}, ["a", "b"], KEYS
    )
    out = forecast(
        state2,
        now,
        model,
        current_monthly=np.array([1522.0, 1522.0]),
        migration_usd=np.array([10.0, 100.0]),
        horizon_days=3.0,
    )
    assert float(out.days_mid[0]) == 4.0 and float(out.days_low[0]) == 1.0 and float(out.days_high[0]) == 16.0
    assert float(out.payback_days[0]) == pytest.approx(1.0, rel=0.01)
    assert float(out.horizon_net_usd[0]) == pytest.approx(10.0 * 4 - 10.0, rel=0.01)
    # payback at the interval's low end: P(the advantage outlasts it) = 0.9
    assert float(out.outlasts_payback[0]) == pytest.approx(0.9, abs=0.01)
    # $10 is earned back in a day, well inside the 3-day horizon; $100 needs 10 days of it
    assert float(out.pays_within_horizon[0]) > 0.9
    assert float(out.pays_within_horizon[1]) < 0.01
    assert float(out.payback_days[1]) == pytest.approx(10.0, rel=0.01)


def test_forecast_saving_per_day_is_the_smoothed_advantage_not_the_last_gap() -> None:
    """A gap that price noise just widened does not make the move pay back faster: the payback uses
    the advantage's exponentially weighted mean (the winner's curse of picking the cheapest now)."""
    model = DurationModel((0.0,), (1.0,), (4.0,), (16.0,))
    state, now = track([0.05] * 200 + [0.20])  # a 5 % edge, then one noisy sample at 20 %
    out = forecast(
        state,
        now,
        model,
        current_monthly=np.array([3044.0]),
        migration_usd=np.array([15.0]),
        horizon_days=3.0,
    )
    assert float(state.mean[0]) < 0.06
    assert float(out.payback_days[0]) > 2.5  # ~$5 a day from the mean, not $20 from the last gap
    assert float(out.pays_within_horizon[0]) < 0.9


def test_duration_model_rejects_unordered_quantiles() -> None:
    with pytest.raises(ValueError, match="q10 <= q50 <= q90"):
        DurationModel((0.0,), (3.0,), (2.0,), (5.0,))
    with pytest.raises(ValueError, match="start at 0"):
        DurationModel((1.0,), (1.0,), (2.0,), (5.0,))


def test_advantage_state_round_trips_through_a_dict() -> None:
    state, _ = track([0.2] * 5)
    again = AdvantageState.from_dict(state.to_dict(), ["svc"], KEYS)
    assert again.to_dict() == state.to_dict()


# --- calibration -----------------------------------------------------------------------------------
def test_ece_on_a_hand_made_example() -> None:
    # bin [0.9, 1.0): 4 moves at 0.9, 3 paid back -> |0.75 - 0.9| = 0.15, weight 4/6
    # bin [0.2, 0.3): 2 moves at 0.2, 1 paid back -> |0.5 - 0.2| = 0.30, weight 2/6
    conf = [0.9, 0.9, 0.9, 0.9, 0.2, 0.2]
    outcome = [True, True, True, False, True, False]
    assert expected_calibration_error(conf, outcome) == pytest.approx(4 / 6 * 0.15 + 2 / 6 * 0.30)
    bins = reliability(conf, outcome)
    assert [(b["low"], b["count"], b["positive_share"]) for b in bins] == [(0.2, 2, 0.5), (0.9, 4, 0.75)]
    assert expected_calibration_error([], []) is None
    assert expected_calibration_error([1.0, 0.0], [True, False]) == 0.0


def test_isotonic_fold_is_monotone_and_validated() -> None:
    fold = Fold(fitted_on=("a",), x=(0.0, 0.5, 1.0), y=(0.1, 0.4, 0.95), samples=10)
    out = fold.apply(np.linspace(0, 1, 11))
    assert np.all(np.diff(out) >= 0)
    assert float(fold.apply(0.75)) == pytest.approx(0.675)
    with pytest.raises(ValueError, match="non-decreasing"):
        Fold(fitted_on=("a",), x=(0.0, 1.0), y=(0.9, 0.1), samples=1)


def test_table_never_scores_a_scenario_with_a_fold_that_saw_it() -> None:
    def fold(*names: str) -> Fold:
        return Fold(fitted_on=names, x=(0.0, 1.0), y=(0.0, 1.0), samples=1)

    table = CalibrationTable.model_validate(
        {"folds": {"a": fold("b", "c"), "b": fold("a", "c"), "c": fold("a", "b"), "all": fold("a", "b", "c")}}
    )
    for name in ("a", "b", "c"):
        assert name not in table.for_scenario(name).fitted_on
    assert table.for_scenario("my-own") == table.folds["all"]
    with pytest.raises(ValueError, match="'all' fold"):
        CalibrationTable.model_validate({"folds": {"a": fold("b")}})


SCENARIO_FILES = sorted(p.stem for p in (Path(swen.__file__).parent / "scenarios").glob("*.yaml"))


def test_packaged_table_is_fitted_leave_one_scenario_out() -> None:
    """Every shipped scenario has a fold fitted on the others only, on the gate decisions of the
    generated fleet, and the backtest scores each scenario with the fold that never saw it."""
    from swen.telemetry.calibration import load_calibration_data

    data = load_calibration_data()
    assert data is not None
    table = CalibrationTable.model_validate(data)
    fitted = table.provenance["scenarios"]
    assert sorted(fitted) == SCENARIO_FILES  # every scenario the project ships, and no other
    assert table.provenance["services"] == 200 and "gate" in table.provenance["method"]
    for name in fitted:
        fold = table.for_scenario(name)
        assert fold is table.folds[name]
        assert name not in fold.fitted_on
        assert sorted(fold.fitted_on) == sorted(n for n in fitted if n != name)
        assert fold.samples > 0
    assert sorted(table.folds["all"].fitted_on) == sorted(fitted)
    assert table.for_scenario("not-shipped") is table.folds["all"]
    checks = {c["held_out"]: c for c in table.provenance["checks"] if "held_out" in c}
    assert sorted(checks) == sorted(fitted)
    for name, check in checks.items():
        assert name not in check["fitted_on"]


# --- the engine uses them, and says so -------------------------------------------------------------
def calibrated() -> EngineParams:
    return engine_params(
        calibration=Fold(
            fitted_on=("x",),
            x=(0.0, 0.5, 1.0),
            y=(0.0, 0.3, 0.91),
            samples=100,
            duration=DurationModel((0.0,), (4.0,), (9.0,), (15.0,)).to_dict(),
        )
    )


def test_explanation_says_how_long_and_what_the_confidence_means() -> None:
    scenario = make_scenario(
        [service("service-2", fleet_placement=US_EAST, latency_slo_ms=120)],
        {("service-2", US_EAST): cell(hourly=1.0), ("service-2", ALI_SG): cell(hourly=0.69)},
        params=calibrated(),
    )
    decision = scenario.run(3).decisions[0]
    assert decision.action is DecisionAction.MIGRATE
    c, f = decision.confidence, decision.forecast
    assert (
        c.calibrated
        and c.raw is not None
        and c.value == pytest.approx(float(calibrated().calibration.apply(c.raw)))
    )  # type: ignore[union-attr]
    assert f is not None and (f.days_low, f.days, f.days_high) == (4.0, 9.0, 15.0)
    assert (
        "advantage expected to last ~9 days (80 % interval 4-15 days; it has led for 1 min)"
        in decision.explanation
    )
    assert f"confidence {c.value:.2f}: {c.value * 100:.0f} % of comparable moves in replay paid back" in (
        decision.explanation
    )
    assert f"${f.horizon_net_usd:,.0f} net over the expected 9 days" in decision.explanation


def _band_scenario(hourly: float = 1.0, **kw: object) -> Scenario:
    """A stateless move whose calibrated confidence stays at 0.80 (above 0.70, short of the gate's
    0.85), 30 % cheaper, with a patience of 10 minutes."""
    params = engine_params(
        calibration=Fold(fitted_on=("x",), x=(0.0, 1.0), y=(0.0, 0.80), samples=1),
        manual_patience_s=600,
        **kw,
    )
    return make_scenario(
        [service("svc-r", fleet_placement=US_EAST)],
        {("svc-r", US_EAST): cell(hourly=hourly), ("svc-r", ALI_SG): cell(hourly=0.7 * hourly)},
        params=params,
    )


def test_auto_route_move_waits_for_the_auto_bar_then_patience() -> None:
    """A stateless move between 0.70 and 0.85 is not sent to a person at once (one move, one MR);
    with no review cost it goes to a person once the patience is over (the rule before the value of
    waiting)."""
    scenario = _band_scenario(review_cost_usd=0.0)
    first = scenario.run(2).decisions[0]
    assert 0.70 < first.confidence.value <= 0.85
    assert first.action is DecisionAction.STAY
    assert "confidence not yet above 0.85 for the auto-approve route" in first.reasons
    later = scenario.run(20).decisions[0]  # 10 min of advantage: patience is over, a person decides
    assert later.action is DecisionAction.MIGRATE


def test_small_auto_route_move_is_held_when_a_review_costs_more_than_waiting_loses() -> None:
    """After the patience a $219/month move expected to keep its advantage ~1 day more puts ~$7 at
    stake: less than the default $100 review, so it is held, and the decision says why in figures."""
    scenario = _band_scenario()
    scenario.run(2)
    result = scenario.run(20)
    held = result.decisions[0]
    assert held.action is DecisionAction.STAY
    assert bool(result.cycle.held[0])  # the backtest counts it (PolicyTally.held_steps)
    per_day = held.savings.net_monthly_usd / 30.44
    forecast = held.forecast
    assert forecast is not None and forecast.advantage_age_h >= 600 / 3600
    reason = (
        f"held: confidence {held.confidence.value:.2f} not above 0.85 for auto-approval; "
        f"a review costs ~$100, waiting loses ~${per_day:,.2f}/day"
    )
    assert reason in held.reasons
    at_stake = per_day * forecast.days
    assert at_stake < 100
    assert f"{reason} (~${at_stake:,.0f} over the {forecast.days:.1f} days the advantage is expected" in (
        held.explanation
    )


def test_auto_route_move_goes_to_a_person_when_waiting_loses_more_than_a_review() -> None:
    """The same move ten times larger ($2,190/month: ~$72 a day, ~$72 at stake) goes to a person
    after the patience when a review costs $50; the held move goes too once the review is cheaper than
    what it has at stake."""
    big = _band_scenario(hourly=10.0, review_cost_usd=50.0)
    big.run(2)
    result = big.run(20)
    assert result.decisions[0].action is DecisionAction.MIGRATE and not result.cycle.held.any()
    small = _band_scenario(review_cost_usd=5.0)
    small.run(2)
    assert small.run(20).decisions[0].action is DecisionAction.MIGRATE


def test_stateful_move_goes_to_a_person_at_the_proposal_bar() -> None:
    params = engine_params(calibration=Fold(fitted_on=("x",), x=(0.0, 1.0), y=(0.0, 0.80), samples=1))
    scenario = make_scenario(
        [service("svc-db", fleet_placement=US_EAST, stateful=True)],
        {("svc-db", US_EAST): cell(hourly=1.0), ("svc-db", ALI_SG): cell(hourly=0.7)},
        params=params,
    )
    assert scenario.run(2).decisions[0].action is DecisionAction.MIGRATE


def test_norm_cdf_matches_math_erf() -> None:
    import math

    from swen.engine.forecast import norm_cdf

    x = np.linspace(-8, 8, 401)
    expected = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.abs(norm_cdf(x) - expected).max() < 2e-7
    assert float(norm_cdf(np.inf)) == 1.0 and float(norm_cdf(-np.inf)) == 0.0


def test_swen_explain_says_why_a_move_is_held(capsys: pytest.CaptureFixture[str]) -> None:
    """`swen explain` renders the held decision's explanation and its reason."""
    from swen.cli.core_cmds import render_decision

    scenario = _band_scenario()
    scenario.run(2)
    held = scenario.run(20).decisions[0]
    render_decision(held)
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "STAY:" in out
    assert "- held: confidence" in out and "a review costs ~$100, waiting loses ~$7" in out
    assert "the advantage is expected to last" in out
