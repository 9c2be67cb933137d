"""SLO repairs: a service whose current placement breaks its latency SLO is moved to the best candidate
that meets it even when that costs more, up to the repair cap; the gate decides who approves it."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from engine_factories import ALI_SG, US_EAST, US_WEST, Scenario, cell, engine_params, make_scenario

from support.builders import service
from swen.backtest.hindsight import service_move
from swen.backtest.strategies import sim_plan
from swen.domain.decision import Decision, DecisionAction
from swen.domain.models import ServiceShape
from swen.engine.review_rules import still_worth_it
from swen.engine.summary import unmet_conditions
from swen.pipeline.policy import PolicyGate, PolicyInput, PolicyResult

SLO = 100.0
SLOW, FAST = 150.0, 40.0


def breaching(target_hourly: float, *, gpu: float = 1.0, **params: object) -> Scenario:
    """``api`` runs on aws/us-east-1 at $1/h with a p95 of 150 ms against its 100 ms SLO; aws/us-west-2
    is as cheap and as slow; alibaba/ap-southeast-1 meets the SLO (40 ms) at ``target_hourly``."""
    shape = ServiceShape(vcpus=4, memory_gib=16, gpu_model="T4", gpu_count=1) if gpu < 1.0 else None
    svc = service("api", fleet_placement=US_EAST, latency_slo_ms=SLO, **({"shape": shape} if shape else {}))
    return make_scenario(
        [svc],
        {
            ("api", US_EAST): cell(hourly=1.0, latency=SLOW),
            ("api", US_WEST): cell(hourly=1.0, latency=SLOW),
            ("api", ALI_SG): cell(hourly=target_hourly, latency=FAST, gpu=gpu),
        },
        params=engine_params(**params),
    )


def gate(scenario: Scenario, decision: Decision) -> PolicyResult:
    return PolicyGate().evaluate(PolicyInput.from_decision(decision, sim_plan(scenario.services[0])))


def test_a_dearer_repair_is_proposed_and_a_person_reviews_it() -> None:
    scenario = breaching(1.2)  # +20 %: $146/month more
    result = scenario.run(10)
    d = result.decisions[0]
    assert d.action is DecisionAction.MIGRATE and d.slo_repair and not d.emergency
    assert d.target == ALI_SG
    assert d.savings.cost_delta_pct == pytest.approx(20.0)
    assert d.savings.net_monthly_usd < 0  # it costs money, and is proposed anyway
    assert d.explanation == (
        "Move api off aws/us-east-1: p95 150 ms breaks its SLO 100 ms (10 of the last 10 samples over "
        "it); alibaba/ap-southeast-1 (simulated price) meets it (p95 40 ms) for +$146/month (+20 %); a "
        "person reviews it because it costs more. SLO repair: confidence 1.00 (fresh data 1.00, GPU "
        "capacity at the target 1.00); $1 one-time migration."
    )
    assert d.reasons == (
        "slo_repair: p95 150 ms above the SLO 100 ms in 10 of the last 10 samples",
        "cost delta +20.0 % within the 150 % cap on a repair's extra cost",
        "confidence 1.00 > 0.70",
    )
    assert Decision.model_validate(d.model_dump()) == d
    verdict = gate(scenario, d)
    assert verdict.outcome == "manual_review"
    assert verdict.codes == ("cost_delta_too_high",)  # the gate's own 5 % rule, never bypassed
    assert result.recommendations == (d,)
    assert service_move(result.cycle, 0)  # the calibration leaves it out (its confidence is not a price's)


def test_a_repair_over_the_cap_stays_and_says_so() -> None:
    scenario = breaching(3.0)  # +200 %
    result = scenario.run(10)
    d = result.decisions[0]
    assert d.action is DecisionAction.STAY and not d.slo_repair
    assert d.explanation == (
        "Stay on aws/us-east-1: p95 150 ms breaks its SLO 100 ms (10 of the last 10 samples over it); "
        "alibaba/ap-southeast-1 (simulated price) meets it (p95 40 ms) for +$1,460/month (+200 %) but "
        "that is over the 150 % cap on a repair's extra cost (max_repair_cost_pct); a person can choose "
        "a placement with swen place"
    )
    assert "repair over the cost cap: cost delta +200.0 % above 150 % (max_repair_cost_pct)" in d.reasons
    assert unmet_conditions(result) == [["repair_cap"]]
    raised = scenario.evaluate(params=engine_params(max_repair_cost_pct=250.0)).decisions[0]
    assert raised.action is DecisionAction.MIGRATE and raised.slo_repair


def test_a_cheap_repair_with_high_confidence_is_auto_approved() -> None:
    scenario = breaching(1.02)  # +2 %: under the gate's 5 %
    d = scenario.run(10).decisions[0]
    assert d.action is DecisionAction.MIGRATE and d.slo_repair
    assert "the gate can auto-approve it (cost delta under 5 %, confidence above 0.85)" in d.explanation
    verdict = gate(scenario, d)
    assert verdict.outcome == "auto_approve" and not verdict.override


def test_a_repair_short_of_the_gates_bar_goes_to_a_person_at_once_never_held() -> None:
    """A GPU repair whose target's capacity puts its confidence between 0.70 and 0.85: a price move
    like it would wait a week for the gate's bar; a repair goes to a person now (waiting costs SLO
    minutes, not dollars: no patience, no value-of-waiting hold)."""
    scenario = breaching(1.02, gpu=0.29)
    result = scenario.run(10)
    d = result.decisions[0]
    assert 0.70 < d.confidence.value < 0.85
    assert d.action is DecisionAction.MIGRATE and d.slo_repair
    assert not result.cycle.held[0]
    assert f"a person reviews it because its confidence {d.confidence.value:.2f} is not above 0.85" in (
        d.explanation
    )
    verdict = gate(scenario, d)
    assert verdict.outcome == "manual_review" and verdict.codes == ("confidence_too_low",)


def test_no_repair_when_no_candidate_meets_the_slo() -> None:
    scenario = breaching(1.2)
    scenario.set("api", ALI_SG, latency=SLOW)
    d = scenario.run(10).decisions[0]
    assert d.action is DecisionAction.STAY and not d.slo_repair
    assert d.reasons == ("no candidate meets the hard constraints",)
    assert d.explanation == (
        "Stay on aws/us-east-1: p95 150 ms breaks its SLO 100 ms (10 of the last 10 samples over it), "
        "but no candidate meets the hard constraints (none meets the SLO)"
    )


def test_a_single_spike_is_not_a_repair_a_breach_in_half_the_window_is() -> None:
    scenario = breaching(1.2)
    scenario.set("api", US_EAST, latency=FAST)
    scenario.run(9)
    scenario.set("api", US_EAST, latency=400.0)  # one slow sample: the window's p95 is over the SLO
    result = scenario.run(1)
    assert result.cycle.p95[0, 0] > SLO and not result.cycle.slo_repair[0]
    assert result.decisions[0].action is DecisionAction.STAY
    result = scenario.run(3)  # 4 of 10 over the SLO
    assert result.decisions[0].action is DecisionAction.STAY
    d = scenario.run(1).decisions[0]  # 5 of 10: sustained
    assert d.action is DecisionAction.MIGRATE and d.slo_repair
    assert "(5 of the last 10 samples over it)" in d.explanation


def test_cooldown_and_an_open_move_still_hold_a_repair() -> None:
    scenario = breaching(1.2)
    assert scenario.run(10).decisions[0].action is DecisionAction.MIGRATE  # free to move: repaired
    cooling = scenario.evaluate(last_moved_at={"api": scenario.now}).decisions[0]
    assert cooling.action is DecisionAction.STAY
    assert cooling.reasons[-1] == "in cooldown for another 3600 s"
    assert "in cooldown after the last move for another 1.0 h" in cooling.explanation
    pending = scenario.evaluate(pending={"api": ALI_SG}).decisions[0]
    assert pending.action is DecisionAction.STAY and pending.reasons == ("move already in progress",)


def test_a_waiting_repair_is_still_worth_it_to_the_review_policy() -> None:
    """The hysteresis keeps a waiting move while the bar's figure is positive: for a repair, the room
    under the cap (a repair is not withdrawn for costing more than it saves)."""
    result = breaching(1.2).run(10)
    cycle = result.cycle
    assert cycle.bar_savings[0] == pytest.approx(1.5 * 730 - 0.2 * 730)
    room = float(cycle.bar_savings[0])
    assert still_worth_it(ALI_SG.key, ALI_SG.key, float(cycle.confidence[0]), room, 0.5)


def test_after_a_repair_no_price_move_goes_back_to_the_breaching_placement() -> None:
    scenario = breaching(1.2)
    scenario.run(10)
    d = scenario.evaluate(current={"api": ALI_SG}).decisions[0]
    assert d.action is DecisionAction.STAY and d.reasons == ("current placement scores best",)
    back = {e.placement.key: e.reasons for e in d.excluded}
    assert back[US_EAST.key] == ("p95 latency 150 ms above the SLO 100 ms",)  # 17 % cheaper, excluded


def test_a_cheaper_repair_needs_no_savings_bar() -> None:
    """A repair that saves less than the $50 bar is still a repair (before, a move out of a breach had
    to save $50 a month before its one-time cost)."""
    d = breaching(1.0 - 20 / 730).run(10).decisions[0]
    assert d.action is DecisionAction.MIGRATE and d.slo_repair
    saves = "alibaba/ap-southeast-1 (simulated price) meets it (p95 40 ms) and saves $20/month (-3 %)"
    assert saves in d.explanation


def test_the_placement_a_repair_left_is_held_down_for_price_moves_not_for_emergencies() -> None:
    """Flap damping: aws/us-east-1 meets the SLO again and is 17 % cheaper, but the service left it by
    an SLO repair an hour ago: no price move back until the hold-down ends (its latency swung around
    the SLO: price-duel had services moved back for their price 3-29 hours after each repair)."""
    # no evidence bar: the price move back would otherwise wait for its evidence (a separate rule)
    scenario = breaching(1.2, auto_min_evidence=0.0)
    scenario.set("api", US_EAST, latency=FAST)
    scenario.set("api", US_WEST, hourly=1.3)
    scenario.run(10)
    left = {"api": (US_EAST, scenario.now - timedelta(hours=1))}
    d = scenario.evaluate(current={"api": ALI_SG}, slo_left=left).decisions[0]
    assert d.action is DecisionAction.STAY
    excluded = {e.placement.key: e.reasons for e in d.excluded}
    assert excluded[US_EAST.key] == (
        "the service left it for breaking its SLO 1.0 h ago; not a target again for 30.0 days after that "
        "(slo_holddown_s)",
    )
    free = scenario.evaluate(current={"api": ALI_SG}).decisions[0]  # without the hold-down: back it goes
    assert free.action is DecisionAction.MIGRATE and free.target == US_EAST
    over = {"api": (US_EAST, scenario.now - timedelta(days=30, seconds=1))}
    assert scenario.evaluate(current={"api": ALI_SG}, slo_left=over).decisions[0].target == US_EAST
    scenario.set("api", ALI_SG, availability=0.05)  # an outage where it runs: any healthy target
    scenario.run(1)
    emergency = scenario.evaluate(current={"api": ALI_SG}, slo_left=left).decisions[0]
    assert emergency.emergency and emergency.target == US_EAST


def test_the_merge_request_says_it_is_an_slo_repair() -> None:
    from swen.domain.merge_requests import MRKind
    from swen.gitops.mr_description import mr_description

    d = breaching(1.2).run(10).decisions[0]
    text = mr_description(d, kind=MRKind.MIGRATION, source=d.current, target=d.target)
    assert "| Kind | migration (SLO repair) |" in text
    assert "breaks its SLO 100 ms" in text  # the explanation
    price = breaching(0.5)
    price.set("api", US_EAST, latency=FAST)
    plain = price.run(10).decisions[0]
    assert plain.action is DecisionAction.MIGRATE and not plain.slo_repair
    assert "| Kind | migration |" in mr_description(
        plain, kind=MRKind.MIGRATION, source=plain.current, target=plain.target
    )


def test_the_window_counts_samples_over_a_limit_per_cell() -> None:
    scenario = breaching(1.2)
    scenario.set("api", US_EAST, latency=FAST)
    scenario.run(3)
    scenario.set("api", US_EAST, latency=SLOW)
    scenario.run(2)
    window = scenario.window
    rows, limit = np.array([0, 0, 0]), np.array([SLO, SLO, 10.0])
    counts = window.latency_count_above(rows, np.array([0, -1, 2]), limit)
    assert counts.tolist() == [2, 0, 5]  # 2 of 5 samples (5 slots still empty), none, all 5 over 10 ms
