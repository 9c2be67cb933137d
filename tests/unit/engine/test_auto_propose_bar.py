"""The engine's own bars for proposing a move the gate would auto-approve (``auto_min_evidence``,
``auto_propose_confidence``): short of them the move is held for stronger evidence, and says so."""

from __future__ import annotations

import pytest
from engine_factories import ALI_SG, US_EAST, Scenario, cell, engine_params, make_scenario
from pydantic import ValidationError

from support.builders import service
from swen.config import Settings
from swen.domain.decision import DecisionAction
from swen.engine.calibration import Fold
from swen.engine.params import EngineParams


def _scenario(top: float, target_hourly: float = 0.7, **kw: object) -> Scenario:
    """A stateless move (30 % cheaper by default) whose calibrated confidence rises towards ``top``."""
    params = engine_params(calibration=Fold(fitted_on=("x",), x=(0.0, 1.0), y=(0.0, top), samples=1), **kw)
    return make_scenario(
        [service("svc-a", fleet_placement=US_EAST)],
        {("svc-a", US_EAST): cell(hourly=1.0), ("svc-a", ALI_SG): cell(hourly=target_hourly)},
        params=params,
    )


def test_a_new_gap_waits_until_it_stands_clear_of_price_noise_then_is_proposed() -> None:
    """A 20 % gap seen for the first time stands 4 standard errors clear of zero (the prior spread of
    price noise): the gate would approve it at its confidence, the engine holds it and says why; an
    hour of evidence later it stands more than 5 clear and is proposed."""
    scenario = _scenario(0.97, target_hourly=0.8)
    result = scenario.run(2)
    held = result.decisions[0]
    z = held.confidence.evidence
    assert z is not None and z < 5.0 and held.confidence.value > 0.85
    assert held.action is DecisionAction.STAY and bool(result.cycle.held[0])
    per_day = held.savings.net_monthly_usd / 30.44
    reason = (
        f"held for stronger evidence: the advantage stands {z:.1f} standard errors clear of price "
        f"noise, the engine waits for 5.0 before proposing a move the gate would auto-approve; waiting "
        f"loses ~${per_day:,.2f}/day"
    )
    assert reason in held.reasons and reason in held.explanation
    later = scenario.run(150).decisions[0]  # 75 minutes of the same gap
    assert later.confidence.evidence is not None and later.confidence.evidence >= 5.0
    assert later.action is DecisionAction.MIGRATE
    # without the evidence bar (0) the same first sighting is proposed at once
    first = _scenario(0.97, target_hourly=0.8, auto_min_evidence=0.0).run(2).decisions[0]
    assert first.action is DecisionAction.MIGRATE


def test_a_move_the_gate_would_approve_waits_for_the_engines_bar_and_says_why() -> None:
    result = _scenario(0.90, auto_propose_confidence=0.92).run(20)
    held = result.decisions[0]
    assert 0.85 < held.confidence.value <= 0.92
    assert held.action is DecisionAction.STAY
    assert bool(result.cycle.held[0])  # the backtest counts it as held
    per_day = held.savings.net_monthly_usd / 30.44
    reason = (
        f"held for stronger evidence: confidence {held.confidence.value:.2f} clears the gate's 0.85 but "
        f"not the 0.92 the engine waits for before proposing a move the gate would auto-approve; waiting "
        f"loses ~${per_day:,.2f}/day"
    )
    assert reason in held.reasons
    assert reason in held.explanation


def test_the_same_move_is_proposed_at_the_gates_bar_by_default_and_above_the_engines() -> None:
    assert _scenario(0.90).run(20).decisions[0].action is DecisionAction.MIGRATE  # default: 0.85
    surer = _scenario(0.97, auto_propose_confidence=0.92).run(20).decisions[0]
    assert surer.confidence.value > 0.92 and surer.action is DecisionAction.MIGRATE


def test_the_bar_below_the_gates_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValidationError, match="at or above auto_confidence"):
        EngineParams(auto_propose_confidence=0.80)
    with pytest.raises(ValidationError, match="auto_propose_confidence"):
        Settings(auto_propose_confidence=0.80)
    assert EngineParams.from_settings(Settings(auto_propose_confidence=0.9)).auto_propose_confidence == 0.9
    assert EngineParams().auto_propose_confidence == Settings().auto_propose_confidence == 0.85
    assert EngineParams().auto_min_evidence == Settings().auto_min_evidence == 5.0
    assert EngineParams.from_settings(Settings(auto_min_evidence=0)).auto_min_evidence == 0.0
    with pytest.raises(ValidationError, match="auto_min_evidence"):
        Settings(auto_min_evidence=-1)
