"""Recommendation thresholds at their boundaries, cooldown, stale current data."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from engine_factories import ALI_SG, US_EAST, Scenario, cell, engine_params, make_scenario

from support.builders import service
from swen.domain.decision import DecisionAction
from swen.engine.decide import meets_thresholds

DEFAULTS = engine_params()


@pytest.mark.parametrize(
    ("confidence", "savings", "expected"),
    [
        (0.70, 1000.0, False),  # exactly 0.70 does not recommend
        (0.7001, 1000.0, True),
        (0.99, 50.0, False),  # exactly $50 does not recommend
        (0.99, 50.01, True),
        (0.70, 50.0, False),
        (0.7001, 50.01, True),
    ],
)
def test_thresholds_are_strict(confidence: float, savings: float, expected: bool) -> None:
    assert bool(meets_thresholds(confidence, savings, DEFAULTS)) is expected


def test_thresholds_vectorised() -> None:
    got = meets_thresholds(np.array([0.70, 0.7001, 0.8, 0.8]), np.array([60.0, 60.0, 50.0, 50.01]), DEFAULTS)
    assert got.tolist() == [False, True, False, True]


def cheaper_alibaba(cycles: int = 10) -> Scenario:
    """Alibaba 25 % cheaper; after 10 cycles the winner is fully stable."""
    scenario = make_scenario(
        [service("svc-t", fleet_placement=US_EAST)],
        {("svc-t", US_EAST): cell(hourly=1.0, latency=20), ("svc-t", ALI_SG): cell(hourly=0.75, latency=24)},
    )
    scenario.run(cycles)
    return scenario


def test_engine_migrates_when_both_thresholds_pass() -> None:
    decision = cheaper_alibaba().evaluate().decisions[0]
    assert decision.action is DecisionAction.MIGRATE
    assert decision.target == ALI_SG
    assert decision.confidence.value > 0.70 and decision.savings.net_monthly_usd > 50


def test_confidence_exactly_at_the_threshold_stays_end_to_end() -> None:
    scenario = cheaper_alibaba()
    value = scenario.evaluate().decisions[0].confidence.value
    at = scenario.evaluate(params=engine_params(min_confidence=value)).decisions[0]
    assert at.action is DecisionAction.STAY
    assert any(r.startswith("confidence") and "not above" in r for r in at.reasons)
    above = scenario.evaluate(params=engine_params(min_confidence=value - 1e-4)).decisions[0]
    assert above.action is DecisionAction.MIGRATE


def test_savings_exactly_at_the_threshold_stays_end_to_end() -> None:
    scenario = cheaper_alibaba()
    net = scenario.evaluate().decisions[0].savings.net_monthly_usd
    at = scenario.evaluate(params=engine_params(min_savings_usd=net)).decisions[0]
    assert at.action is DecisionAction.STAY
    assert any(r.startswith("net savings") for r in at.reasons)
    assert f"below the ${net:,.0f} threshold" in at.explanation
    below = scenario.evaluate(params=engine_params(min_savings_usd=net - 0.01)).decisions[0]
    assert below.action is DecisionAction.MIGRATE


def test_small_saving_stays_and_says_why() -> None:
    scenario = make_scenario(
        [service("svc-small", fleet_placement=US_EAST)],
        {("svc-small", US_EAST): cell(hourly=0.05), ("svc-small", ALI_SG): cell(hourly=0.01)},
    )
    decision = scenario.run(10).decisions[0]
    assert decision.action is DecisionAction.STAY
    net = decision.savings.net_monthly_usd
    assert 0 < net < 50
    assert decision.explanation.startswith(
        "Stay on aws/us-east-1: best alternative alibaba/ap-southeast-1 (simulated price) "
        f"saves ${net:,.0f}/month, below the $50 threshold"
    )


def test_new_winner_with_clear_evidence_does_not_wait_for_the_window() -> None:
    """A 25 % cut stands five noise-widths clear at once: no need to hold for 10 cycles first."""
    scenario = cheaper_alibaba(cycles=1)
    first = scenario.evaluate().decisions[0]
    assert first.action is DecisionAction.MIGRATE
    assert first.confidence.stability_cycles == 1 and first.confidence.stability_window == 10
    assert first.confidence.value > DEFAULTS.auto_confidence  # the gate's auto-approve bar
    assert "same winner 1 of last 10 cycles" in first.explanation


def test_small_edge_within_price_noise_is_not_recommended() -> None:
    """2 % cheaper: well worth $50 a month on a big service, but within price noise (z ~ 0.4)."""
    scenario = make_scenario(
        [service("svc-n", fleet_placement=US_EAST)],
        {("svc-n", US_EAST): cell(hourly=10.0), ("svc-n", ALI_SG): cell(hourly=9.8)},
    )
    decision = scenario.run(10).decisions[0]
    assert decision.savings.net_monthly_usd > 50
    assert decision.action is DecisionAction.STAY
    assert decision.confidence.value < DEFAULTS.min_confidence
    assert decision.confidence.evidence is not None and decision.confidence.evidence < 1.0


def test_cooldown_holds_a_service_that_just_moved() -> None:
    scenario = cheaper_alibaba()
    moved = {"svc-t": scenario.now - timedelta(minutes=10)}
    held = scenario.evaluate(last_moved_at=moved).decisions[0]
    assert held.action is DecisionAction.STAY
    assert held.reasons == ("in cooldown for another 3000 s",)
    assert "in cooldown after the last move for another 50 min" in held.explanation
    free = scenario.evaluate(last_moved_at={"svc-t": scenario.now - timedelta(seconds=3600)}).decisions[0]
    assert free.action is DecisionAction.MIGRATE


def test_cooldown_does_not_flap_after_a_move() -> None:
    """After the move the new placement wins: STAY, and the old one cannot win back within cooldown."""
    scenario = cheaper_alibaba()
    scenario.services = [service("svc-t", fleet_placement=ALI_SG)]
    after = scenario.run(1, last_moved_at={"svc-t": scenario.now}).decisions[0]
    assert after.action is DecisionAction.STAY
    assert after.reasons == ("current placement scores best",)
    scenario.set("svc-t", US_EAST, hourly=0.5)  # the old home becomes much cheaper at once
    flips = scenario.run(10, last_moved_at={"svc-t": scenario.now}).decisions[0]
    assert flips.action is DecisionAction.STAY
    assert any("cooldown" in r for r in flips.reasons)


def test_stale_current_placement_stays() -> None:
    scenario = cheaper_alibaba()
    scenario.run(5, skip=[("svc-t", US_EAST.key)])
    decision = scenario.evaluate().decisions[0]
    assert decision.action is DecisionAction.STAY
    assert decision.reasons == ("current placement has no fresh telemetry",)
    assert "no fresh telemetry for the current placement (stale telemetry (last sample 150 s ago" in (
        decision.explanation
    )
    assert decision.confidence.freshness == 0.0


def test_result_is_unaffected_by_later_window_updates() -> None:
    scenario = cheaper_alibaba()
    result = scenario.evaluate()
    scenario.set("svc-t", ALI_SG, hourly=5.0)
    scenario.run(1)  # the window changes in place; the earlier result must not
    decision = result.decision("svc-t")
    assert decision.action is DecisionAction.MIGRATE
    assert decision.ranking[0].monthly_cost_usd == pytest.approx(0.75 * 730)


def test_open_decision_is_not_proposed_again() -> None:
    scenario = cheaper_alibaba()
    decision = scenario.evaluate(pending={"svc-t": ALI_SG}).decisions[0]
    assert decision.action is DecisionAction.STAY
    assert decision.reasons == ("move already in progress",)
    assert (
        decision.explanation
        == "Stay on aws/us-east-1: a move to alibaba/ap-southeast-1 is already in progress"
    )
    other = scenario.evaluate(pending={"svc-t": US_EAST}).decisions[0]  # an open decision elsewhere
    assert other.action is DecisionAction.STAY
    assert "move already in progress" in other.reasons
