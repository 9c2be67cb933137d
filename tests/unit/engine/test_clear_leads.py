"""Clear leads (engine/leads.py): a price change too large to be noise is not forecast with the
duration table fitted on leads that were mostly noise (gpu-squeeze's A100 surge waited a day)."""

from __future__ import annotations

import numpy as np
import pytest
from engine_factories import US_EAST, US_WEST, Scenario, cell, engine_params, make_scenario

from support.builders import service
from swen.domain.arrays import BoolArray
from swen.domain.decision import DecisionAction
from swen.engine.calibration import Fold
from swen.engine.forecast import AdvantageState, DurationModel, ForecastArrays, copernican_model, forecast
from swen.engine.leads import CLEAR_LEAD, clear_leads, lead_forecast, longer_lived

KEYS = ("aws/us-east-1", "aws/us-west-2")
NOISY_TABLE = DurationModel(
    (0.0, 1.0, 6.0, 24.0),
    (0.04, 0.04, 0.04, 1.4),
    (6.0, 0.17, 0.20, 5.0),
    (30.0, 6.0, 6.0, 29.0),
)
"""Shaped like the packaged table: leads 1-24 h old expected to end within hours (most were noise),
leads a day old expected to last five days."""


def track(gaps: list[float], step_s: float = 300.0) -> tuple[AdvantageState, float]:
    state = AdvantageState.empty(["svc"], KEYS)
    now = 0.0
    for g in gaps:
        state = state.updated(np.array([1 if g > 0 else -1]), np.array([0]), np.array([g]), now)
        now += step_s
    return state, now - step_s


def outlook(
    state: AdvantageState, now: float, model: DurationModel, migration: float = 5.0
) -> tuple[ForecastArrays, tuple[ForecastArrays, BoolArray]]:
    kw = {
        "current_monthly": np.array([10_220.0]),
        "migration_usd": np.array([migration]),
        "horizon_days": 3.0,
    }
    return forecast(state, now, model, **kw), lead_forecast(
        state, now, model, longer_lived(model, copernican_model()), **kw
    )


def test_longer_lived_takes_the_rule_only_where_the_table_expects_less() -> None:
    merged = longer_lived(NOISY_TABLE, copernican_model())
    ages = np.array([0.5, 3.0, 12.0, 30.0, 100.0, 200.0]) * 3600.0
    lo, mid, hi = merged.quantiles(ages)
    # 0-1 h: the table's 6 days beat the rule's 1 day; 1-24 h: the rule's 1.04 / 1.25 days beat 0.17 / 0.2
    assert list(np.round(mid, 2)) == [6.0, 1.04, 1.25, 5.0, 5.0, 8.0]
    # each bucket keeps one model's three quantiles together (no mixed shapes)
    assert (lo[1], hi[1]) == pytest.approx((1.04 / 4, 1.04 * 4), rel=0.01)
    assert (lo[3], hi[3]) == (1.4, 29.0)
    assert np.all(lo <= mid) and np.all(mid <= hi)


def test_clear_lead_needs_a_smoothed_advantage_noise_cannot_hold() -> None:
    surge, _ = track([0.0] * 12 + [0.2857] * 72)  # x1.4 on the current placement for 6 h
    noise, _ = track(list(np.abs(0.03 + 0.05 * np.random.default_rng(3).standard_normal(84))))
    assert float(surge.mean[0]) >= CLEAR_LEAD and bool(clear_leads(surge)[0])
    assert float(noise.mean[0]) < CLEAR_LEAD and not clear_leads(noise).any()
    assert not clear_leads(AdvantageState.empty(["svc"], KEYS)).any()  # nothing tracked


def test_a_young_clear_lead_gets_the_rule_and_a_noise_lead_keeps_the_table() -> None:
    surge, now = track([0.2857] * 80)  # 6.6 h old
    table, (ruled, changed) = outlook(surge, now, NOISY_TABLE)
    assert float(table.days_mid[0]) == pytest.approx(0.20)
    assert float(ruled.days_mid[0]) == pytest.approx(1.25)
    assert float(ruled.outlasts_payback[0]) > 0.95 > 0.8 > float(table.outlasts_payback[0])
    assert float(ruled.pays_within_horizon[0]) == float(table.pays_within_horizon[0])  # evidence unchanged
    assert bool(changed[0])
    small, now = track([0.08] * 80)  # a steady 8 % lead of the same age: not clear
    table, (same, changed) = outlook(small, now, NOISY_TABLE)
    assert float(same.days_mid[0]) == float(table.days_mid[0]) == pytest.approx(0.20)
    assert float(same.outlasts_payback[0]) == float(table.outlasts_payback[0]) and not changed.any()


def test_an_old_clear_lead_keeps_the_table_when_it_expects_longer() -> None:
    surge, now = track([0.2857] * 360)  # 30 h old: the table expects 5 days, the rule 2
    table, (ruled, changed) = outlook(surge, now, NOISY_TABLE)
    assert float(ruled.days_mid[0]) == float(table.days_mid[0]) == 5.0 and not changed.any()


def _surge_scenario(surge: float) -> Scenario:
    """A stateless service on aws/us-east-1 whose price surges by ``surge`` (x1.4: another region
    29 % cheaper); a move costs $5 (250 GB at $0.02), paid back within ~2 h at the surge's saving."""
    params = engine_params(
        calibration=Fold(
            fitted_on=("x",), x=(0.0, 1.0), y=(0.0, 1.0), samples=1, duration=NOISY_TABLE.to_dict()
        )
    )
    scenario = make_scenario(
        [service("train-a100", fleet_placement=US_EAST, state_gb=250.0)],
        {("train-a100", US_EAST): cell(hourly=10.0), ("train-a100", US_WEST): cell(hourly=10.0)},
        params=params,
        step_s=300.0,
    )
    scenario.run(12)
    scenario.set("train-a100", US_EAST, hourly=10.0 * surge)
    return scenario


def test_a_surge_is_acted_on_within_hours_not_after_a_day() -> None:
    """With the table alone the x1.4 surge's lead, 3 h old, was expected to end within 0.17 days and
    the move waited for the lead to be a day old (confidence ~0.73 here)."""
    decision = _surge_scenario(1.4).run(36).decisions[0]  # 3 h of surge
    assert decision.action is DecisionAction.MIGRATE and decision.target == US_WEST
    assert decision.confidence.value > 0.85  # the gate's auto-approve bar
    assert decision.forecast is not None and decision.forecast.days == pytest.approx(1.04, abs=0.01)
    assert "It is a clear lead (smoothed advantage +29 %" in decision.explanation
    assert "not the shorter one fitted on leads that were mostly noise" in decision.explanation


def test_a_small_lead_of_the_same_age_still_follows_the_table() -> None:
    decision = _surge_scenario(1.1).run(36).decisions[0]  # a 9 % lead, 3 h old: noise can hold that
    assert decision.action is DecisionAction.STAY
    assert decision.forecast is not None and decision.forecast.days == pytest.approx(0.17)
    assert "clear lead" not in decision.explanation


def test_a_clear_lead_short_of_the_bars_says_so_in_its_stay_explanation() -> None:
    scenario = _surge_scenario(1.4)
    scenario.run(36)
    stay = scenario.evaluate(last_moved_at={"train-a100": scenario.now}).decisions[0]
    assert stay.action is DecisionAction.STAY
    assert (
        "in cooldown" in stay.explanation and "it is a clear lead (smoothed advantage +" in stay.explanation
    )
