"""A provider outage moves that provider's services away; explicit emergencies; explanations."""

from __future__ import annotations

import pytest
from engine_factories import ALI_HZ, ALI_SG, US_EAST, US_WEST, Scenario, cell, engine_params, make_scenario

from support.builders import service
from swen.domain.decision import Decision, DecisionAction


def mixed_fleet() -> Scenario:
    """Three services on AWS, one on Alibaba; every service already sits on its best candidate."""
    services = [
        service("web", fleet_placement=US_EAST),
        service("api", fleet_placement=US_WEST),
        service("batch", fleet_placement=US_EAST, latency_slo_ms=300),
        service("shop", fleet_placement=ALI_SG),
    ]
    cells = {}
    for s in services:
        cells[(s.name, US_EAST)] = cell(hourly=1.0, latency=10)
        cells[(s.name, US_WEST)] = cell(hourly=1.0, latency=30)
        cells[(s.name, ALI_SG)] = cell(hourly=0.9 if s.name == "shop" else 1.2, latency=40)
        cells[(s.name, ALI_HZ)] = cell(hourly=1.3, latency=60)
    scenario = make_scenario(services, cells)
    scenario.run(10)
    return scenario


def by_service(decisions: list[Decision]) -> dict[str, Decision]:
    return {d.service: d for d in decisions}


def test_provider_outage_moves_its_services_away() -> None:
    scenario = mixed_fleet()
    assert all(d.action is DecisionAction.STAY for d in scenario.evaluate().decisions)
    for s in scenario.services:  # AWS goes down everywhere
        scenario.set(s.name, US_EAST, availability=0.05)
        scenario.set(s.name, US_WEST, availability=0.10)
    result = scenario.run(1)
    decisions = by_service(result.decisions)
    for name in ("web", "api", "batch"):
        d = decisions[name]
        assert d.action is DecisionAction.MIGRATE and d.emergency, d.explanation
        assert d.target.provider == "alibaba"
        assert d.target == ALI_SG  # the best healthy candidate
        assert d.explanation.startswith(f"Emergency: move {name} off {d.current.key} (availability 0.")
        assert d.reasons[0].startswith("emergency: availability 0.")
        assert d.savings.net_monthly_usd < 0  # dearer, and moved anyway
    shop = decisions["shop"]
    assert shop.action is DecisionAction.STAY and not shop.emergency
    assert {d.service for d in result.recommendations} == {"web", "api", "batch"}
    assert result.counts == {"services": 4, "migrate": 3, "emergency": 3, "stay": 1}


def test_outage_ignores_cooldown() -> None:
    scenario = mixed_fleet()
    scenario.set("web", US_EAST, availability=0.0)
    decision = scenario.run(1, last_moved_at={"web": scenario.now}).decisions[0]
    assert decision.action is DecisionAction.MIGRATE and decision.emergency
    assert decision.target == US_WEST


def test_auto_emergency_can_be_left_to_self_healing() -> None:
    scenario = mixed_fleet()
    scenario.set("web", US_EAST, availability=0.0)
    manual = engine_params(auto_emergency=False)
    decision = scenario.run(1, params=manual).decisions[0]
    assert decision.action is DecisionAction.STAY and not decision.emergency
    assert any("availability 0.00 below the floor 0.90" in r for e in decision.excluded for r in e.reasons)
    called = scenario.evaluate(params=manual, emergency={"web"}).decisions[0]
    assert called.action is DecisionAction.MIGRATE and called.emergency and called.target == US_WEST


def test_explicit_emergency_on_healthy_looking_telemetry_picks_best_other() -> None:
    scenario = mixed_fleet()
    decision = scenario.evaluate(emergency={"web"}).decisions[0]
    assert decision.action is DecisionAction.MIGRATE and decision.emergency
    assert decision.target == US_WEST
    assert "(marked unhealthy)" in decision.explanation


def test_emergency_without_a_healthy_candidate_stays_and_says_so() -> None:
    scenario = mixed_fleet()
    for p in (US_EAST, US_WEST, ALI_SG, ALI_HZ):
        scenario.set("web", p, availability=0.1)
    decision = scenario.run(1).decisions[0]
    assert decision.action is DecisionAction.STAY and decision.emergency
    assert decision.reasons == ("no healthy candidate",)
    assert "but no healthy candidate" in decision.explanation


def test_quarantined_provider_is_not_picked_in_an_emergency() -> None:
    scenario = mixed_fleet()
    scenario.set("web", US_EAST, availability=0.0)
    decision = scenario.run(1, quarantined={("*", "aws")}).decisions[0]
    assert decision.target == ALI_SG
    assert any(r == "quarantined by self-healing" for e in decision.excluded for r in e.reasons)


def test_migrate_explanation_carries_the_figures() -> None:
    scenario = make_scenario(
        [service("service-2", fleet_placement=US_EAST, latency_slo_ms=120)],
        {
            ("service-2", US_EAST): cell(hourly=1.0, latency=20),
            ("service-2", ALI_SG): cell(hourly=0.69, latency=24),
        },
    )
    decision = scenario.run(10).decisions[0]
    assert decision.action is DecisionAction.MIGRATE
    c, s, f = decision.confidence, decision.savings, decision.forecast
    assert f is not None and f.advantage_age_h == pytest.approx(9 * 30 / 3600)  # led for 9 cycles of 30 s
    # no calibration table in EngineParams: the default duration model (median age + 1 day)
    assert (f.days_low, f.days, f.days_high) == pytest.approx((0.25, 1.0, 4.0))
    assert decision.explanation == (
        "Move service-2 from aws/us-east-1 to alibaba/ap-southeast-1 (simulated price): 31 % cheaper "
        "(-$226/month), p95 latency +4 ms (SLO 120 ms), advantage expected to last ~1.0 days "
        "(80 % interval 6 h to 4 days; it has led for 4 min); "
        f"confidence {c.value:.2f} (uncalibrated; margin {c.margin:.2f}, "
        f"same winner 10 of last 10 cycles). Net saving ${s.net_monthly_usd:,.0f}/month after credits and "
        f"$1 one-time migration; ${f.horizon_net_usd:,.0f} net over the expected 1.0 days."
    )
    assert s.gross_monthly_usd == pytest.approx(0.31 * 730)


def test_decisions_are_valid_frozen_models_with_deterministic_ids() -> None:
    scenario = mixed_fleet()
    first = scenario.evaluate().decisions
    again = scenario.evaluate().decisions
    for d, e in zip(first, again, strict=True):
        assert Decision.model_validate(d.model_dump()) == d  # constructed objects pass validation
        assert d.id == e.id and d.id.startswith("dec-")
    assert len({d.id for d in first}) == len(first)


def test_emergency_goes_through_unless_the_open_decision_already_heads_there() -> None:
    scenario = mixed_fleet()
    scenario.set("web", US_EAST, availability=0.0)
    scenario.run(1)
    elsewhere = scenario.evaluate(pending={"web": ALI_HZ}).decisions[0]
    assert elsewhere.action is DecisionAction.MIGRATE and elsewhere.target == US_WEST
    same = scenario.evaluate(pending={"web": US_WEST}).decisions[0]
    assert same.action is DecisionAction.STAY and same.reasons == ("move already in progress",)


def test_self_healing_can_evaluate_one_service_of_the_window() -> None:
    scenario = mixed_fleet()
    web = next(s for s in scenario.services if s.name == "web")
    result = scenario.evaluate(services=[web], emergency={"web"}, quarantined={("web", US_WEST.key)})
    (decision,) = result.decisions
    assert decision.service == "web" and decision.emergency
    assert decision.target == ALI_SG  # us-west-2 quarantined for this service
    assert result.counts["services"] == 1


def test_unknown_service_is_a_clear_error() -> None:
    from swen.domain.errors import EngineError

    scenario = mixed_fleet()
    with pytest.raises(EngineError, match="not in the telemetry window"):
        scenario.evaluate(services=[service("ghost", fleet_placement=US_EAST)])
