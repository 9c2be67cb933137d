"""The route a move will take and whether its evidence suffices for it (``engine.route``)."""

from __future__ import annotations

import numpy as np
import pytest

from swen.engine.route import DAYS_PER_MONTH, judge_routes

WEEK_S = 7 * 86400.0


def judge(
    *,
    stateful: bool = False,
    cost_delta_pct: float = -30.0,
    confidence: float = 0.80,
    age_s: float = 8 * 86400.0,
    net_monthly: float = 150.0,
    days_mid: float = 12.6,
    review_cost_usd: float = 100.0,
    propose_bar: float = 0.92,
    evidence: float = 8.0,
) -> tuple[bool, bool, bool, float, float]:
    """(auto route, route ok, held, waiting $/day, $ at stake) of one move."""
    r = judge_routes(
        stateful=np.array([stateful]),
        cost_delta_pct=np.array([cost_delta_pct]),
        confidence=np.array([confidence]),
        advantage_age_s=np.array([age_s]),
        bar_savings=np.array([net_monthly]),
        days_mid=np.array([days_mid]),
        auto_confidence=0.85,
        auto_propose_confidence=propose_bar,
        manual_patience_s=WEEK_S,
        review_cost_usd=review_cost_usd,
        evidence=np.array([evidence]),
        auto_min_evidence=5.0,
    )
    return (
        bool(r.auto_route[0]),
        bool(r.route_ok[0]),
        bool(r.held[0]),
        float(r.waiting_usd_per_day[0]),
        float(r.at_stake_usd[0]),
    )


def test_a_move_that_clears_the_engines_bar_goes_on_the_auto_route_whatever_it_saves() -> None:
    assert judge(confidence=0.93, net_monthly=60.0, age_s=0.0)[:3] == (True, True, False)
    assert judge(confidence=0.90, net_monthly=60.0, age_s=0.0, propose_bar=0.85)[:3] == (True, True, False)


def awaiting(**kw: float) -> bool:
    """Whether one move is held for stronger evidence (``Routes.awaiting_evidence``)."""
    r = judge_routes(
        stateful=np.array([bool(kw.get("stateful", False))]),
        cost_delta_pct=np.array([kw.get("cost_delta_pct", -30.0)]),
        confidence=np.array([kw.get("confidence", 0.88)]),
        advantage_age_s=np.array([kw.get("age_s", 0.0)]),
        bar_savings=np.array([kw.get("net_monthly", 150.0)]),
        days_mid=np.array([12.6]),
        auto_confidence=0.85,
        auto_propose_confidence=kw.get("propose_bar", 0.92),
        manual_patience_s=WEEK_S,
        review_cost_usd=100.0,
        evidence=np.array([kw.get("evidence", 8.0)]),
        auto_min_evidence=5.0,
    )
    return bool(r.awaiting_evidence[0])


def test_between_the_gates_bar_and_the_engines_the_move_is_held_for_stronger_evidence() -> None:
    """The gate would auto-approve a move at 0.88, but auto-approved moves pay back about as often as
    their confidence says: the engine holds it until it clears its own bar (0.92)."""
    for confidence in (0.851, 0.88, 0.92):
        assert judge(confidence=confidence, age_s=0.0)[:3] == (True, False, True)
        assert awaiting(confidence=confidence)
    assert judge(confidence=0.921, age_s=0.0)[:3] == (True, True, False) and not awaiting(confidence=0.921)
    # at or below the gate's bar it is not "awaiting evidence" (the patience and review rules apply)
    assert not awaiting(confidence=0.85) and not awaiting(confidence=0.80)
    # the bar at the gate's: no band, proposed as before
    assert judge(confidence=0.88, age_s=0.0, propose_bar=0.85)[:3] == (True, True, False)
    assert not awaiting(confidence=0.88, propose_bar=0.85)


def test_a_move_the_gate_would_approve_waits_until_its_evidence_stands_clear_of_noise() -> None:
    """Confidence 0.97 but the advantage only 4 standard errors clear of zero (price noise alone puts
    a few of a fleet-month's comparisons there): held; at 5 it is proposed. Moves for a person and
    a bar of 0 ignore the evidence."""
    assert judge(confidence=0.97, evidence=4.0, age_s=0.0)[:3] == (True, False, True)
    assert awaiting(confidence=0.97, evidence=4.0) and awaiting(confidence=0.97, evidence=float("nan"))
    assert judge(confidence=0.97, evidence=5.0, age_s=0.0)[:3] == (True, True, False)
    assert judge(stateful=True, confidence=0.97, evidence=1.0, age_s=0.0)[:3] == (False, True, False)
    # below the gate's bar the evidence bar does not make it "awaiting evidence" (patience rules)
    assert not awaiting(confidence=0.80, evidence=1.0)
    r = judge_routes(
        stateful=np.array([False]),
        cost_delta_pct=np.array([-30.0]),
        confidence=np.array([0.97]),
        advantage_age_s=np.array([0.0]),
        bar_savings=np.array([150.0]),
        days_mid=np.array([12.6]),
        auto_confidence=0.85,
        auto_propose_confidence=0.85,
        manual_patience_s=WEEK_S,
        review_cost_usd=100.0,
        evidence=np.array([1.0]),
        auto_min_evidence=0.0,
    )
    assert bool(r.route_ok[0]) and not bool(r.held[0])


def test_the_patience_does_not_send_a_move_in_the_band_to_the_gate() -> None:
    """After a week, proposing a move at 0.88 would not reach a person (the gate auto-approves it): it
    stays held however much is at stake, until it clears the engine's bar."""
    assert judge(confidence=0.88, net_monthly=100_000.0)[:3] == (True, False, True)
    assert awaiting(confidence=0.88, age_s=8 * 86400.0, net_monthly=100_000.0)


def test_moves_that_need_a_person_anyway_ignore_the_engines_auto_bar() -> None:
    assert judge(stateful=True, confidence=0.88, age_s=0.0)[:3] == (False, True, False)
    assert judge(cost_delta_pct=12.0, confidence=0.88, age_s=0.0)[:3] == (False, True, False)
    assert not awaiting(stateful=True) and not awaiting(cost_delta_pct=12.0)


def test_before_the_patience_a_move_short_of_the_gates_bar_waits_without_being_held() -> None:
    auto, ok, held, _, _ = judge(age_s=WEEK_S - 1, net_monthly=100_000.0)
    assert (auto, ok, held) == (True, False, False)  # waiting for evidence, not "held" for its value


def test_after_the_patience_the_value_of_waiting_decides() -> None:
    # $150/month for ~12.6 more days: ~$62 at stake, less than a $100 review -> held
    auto, ok, held, per_day, at_stake = judge(net_monthly=150.0)
    assert (auto, ok, held) == (True, False, True)
    assert per_day == pytest.approx(150.0 / DAYS_PER_MONTH)
    assert at_stake == pytest.approx(150.0 / DAYS_PER_MONTH * 12.6)
    # $500/month: ~$207 at stake -> a person reviews it
    assert judge(net_monthly=500.0)[1:3] == (True, False)
    # the same $150/month move with a longer expected advantage (30 days: ~$148 at stake) -> a person
    assert judge(days_mid=30.0)[1:3] == (True, False)
    # a cheaper review ($50) -> a person; no review cost -> always a person (the earlier rule)
    assert judge(review_cost_usd=50.0)[1:3] == (True, False)
    assert judge(review_cost_usd=0.0, net_monthly=1.0)[1:3] == (True, False)


def test_moves_that_need_a_person_anyway_are_never_held() -> None:
    stateful = judge(stateful=True, age_s=0.0, net_monthly=60.0)
    at_the_cost_bar = judge(cost_delta_pct=5.0, age_s=0.0, net_monthly=60.0)
    dearer = judge(cost_delta_pct=12.0, age_s=0.0, net_monthly=60.0)
    for auto, ok, held, _, _ in (stateful, at_the_cost_bar, dearer):
        assert (auto, ok, held) == (False, True, False)


def test_no_saving_or_no_forecast_puts_nothing_at_stake() -> None:
    assert judge(net_monthly=-20.0)[3:] == (0.0, 0.0)
    assert judge(net_monthly=float("nan"))[3:] == (0.0, 0.0)
    assert judge(days_mid=float("nan"))[4] == 0.0


def test_a_move_for_the_services_sake_is_never_held_whatever_its_price_evidence() -> None:
    """An SLO repair or an emergency: waiting costs SLO minutes or an outage, and its evidence is not a
    price gap's, so neither the evidence bar, the patience nor the value of waiting holds it."""
    r = judge_routes(
        stateful=np.array([False, False]),
        cost_delta_pct=np.array([2.0, 2.0]),
        confidence=np.array([0.97, 0.97]),
        advantage_age_s=np.array([0.0, 0.0]),
        bar_savings=np.array([-10.0, -10.0]),
        days_mid=np.array([12.6, 12.6]),
        auto_confidence=0.85,
        auto_propose_confidence=0.85,
        manual_patience_s=WEEK_S,
        review_cost_usd=100.0,
        evidence=np.array([0.0, 0.0]),
        auto_min_evidence=5.0,
        service_move=np.array([True, False]),
    )
    assert r.route_ok.tolist() == [True, False]
    assert r.held.tolist() == [False, True]
    assert r.awaiting_evidence.tolist() == [False, True]
