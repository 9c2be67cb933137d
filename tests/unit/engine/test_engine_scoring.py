"""Scoring maths against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from engine_factories import ALI_HZ, ALI_SG, US_EAST, US_WEST, Scenario, cell, engine_params, make_scenario

from support.builders import service
from swen.domain.decision import DecisionAction
from swen.domain.models import Weights
from swen.engine.scoring import score

APPROX = pytest.approx


def three_candidates() -> Scenario:
    """Current A (us-east-1), B (alibaba, cheaper, credits), C (us-west-2, cheapest but over the SLO).

    SLO 100 ms, 1 replica, amortisation 6 months, weights 0.40/0.25/0.20/0.15.
    A: 1.00 $/h -> 730 $/month, p95 20 ms, no credits, availability 1.00
    B: 0.80 $/h -> 584 $/month, p95 40 ms, 876 $ credits, availability 0.95
    C: 0.50 $/h, p95 150 ms (> SLO: excluded)
    """
    svc = service("svc-a", fleet_placement=US_EAST, state_gb=50.0)
    return make_scenario(
        [svc],
        {
            ("svc-a", US_EAST): cell(hourly=1.0, latency=20, credits=0, availability=1.0),
            ("svc-a", ALI_SG): cell(hourly=0.8, latency=40, credits=876, availability=0.95),
            ("svc-a", US_WEST): cell(hourly=0.5, latency=150, credits=0, availability=1.0),
        },
    )


def test_factor_scores_contributions_totals_and_ranking() -> None:
    scenario = three_candidates()
    decision = scenario.run(1).decisions[0]
    b, a = decision.ranking
    # B is the cheapest feasible (C is excluded): cost 584/584 = 1; A: 584/730 = 0.8
    assert b.placement == ALI_SG and b.rank == 1
    # latency: 40 ms uses under half of the 100 ms SLO, so it scores 1 (LATENCY_HEADROOM)
    assert (b.factors.cost, b.factors.latency, b.factors.credits, b.factors.availability) == APPROX(
        (1.0, 1.0, 876 / (584 * 6), 0.95)
    )
    assert (b.contributions.cost, b.contributions.latency, b.contributions.credits) == APPROX(
        (0.40, 0.25, 0.05)
    )
    assert b.contributions.availability == APPROX(0.1425)
    assert b.total == APPROX(0.8425)
    assert a.placement == US_EAST and a.rank == 2 and a.is_current
    assert (a.factors.cost, a.factors.latency, a.factors.credits, a.factors.availability) == APPROX(
        (0.8, 1.0, 0.0, 1.0)
    )
    assert a.total == APPROX(0.32 + 0.25 + 0.0 + 0.15)
    assert decision.confidence.margin == APPROX(0.8425 - 0.72)
    assert a.monthly_cost_usd == APPROX(730.0) and b.monthly_cost_usd == APPROX(584.0)


def test_excluded_candidate_carries_its_reason() -> None:
    decision = three_candidates().run(1).decisions[0]
    (excluded,) = decision.excluded
    assert excluded.placement == US_WEST
    assert excluded.reasons == ("p95 latency 150 ms above the SLO 100 ms",)


def test_savings_net_of_credits_and_amortised_egress() -> None:
    scenario = three_candidates()
    savings = scenario.run(1).decisions[0].savings
    assert savings.current_monthly_usd == APPROX(730.0)
    assert savings.target_monthly_usd == APPROX(584.0)
    assert savings.gross_monthly_usd == APPROX(146.0)
    assert savings.credits_offset_monthly_usd == APPROX(876 / 6)  # 146 $/month, below B's monthly cost
    assert savings.migration_cost_usd == APPROX(50 * 0.02)  # state_gb x egress price
    assert savings.net_monthly_usd == APPROX(146 + 146 - 1.0 / 6)
    assert savings.cost_delta_pct == APPROX(-20.0)


def test_credits_usable_where_the_service_runs_are_not_a_saving() -> None:
    scenario = three_candidates()
    scenario.set("svc-a", US_EAST, credits=876)  # same balance on both sides: offsets cancel
    savings = scenario.run(1).decisions[0].savings
    assert savings.credits_offset_monthly_usd == APPROX(0.0)
    assert savings.net_monthly_usd == APPROX(146 - 1.0 / 6)


def test_credit_offset_is_capped_by_the_target_cost() -> None:
    scenario = three_candidates()
    scenario.set("svc-a", ALI_SG, credits=1_000_000)
    decision = scenario.run(1).decisions[0]
    assert decision.savings.credits_offset_monthly_usd == APPROX(584.0)
    assert decision.ranking[0].factors.credits == 1.0


def test_replicas_multiply_monthly_cost() -> None:
    svc = service("svc-r", fleet_placement=US_EAST, replicas=3)
    scenario = make_scenario(
        [svc], {("svc-r", US_EAST): cell(hourly=0.5), ("svc-r", ALI_SG): cell(hourly=0.4)}
    )
    ranking = scenario.run(1).decisions[0].ranking
    assert {r.placement.key: r.monthly_cost_usd for r in ranking} == APPROX(
        {US_EAST.key: 0.5 * 730 * 3, ALI_SG.key: 0.4 * 730 * 3}
    )


def test_gpu_availability_is_a_risk_of_the_target_not_a_score_factor() -> None:
    from swen.domain.models import ServiceShape

    svc = service(
        "gpu-svc",
        fleet_placement=US_EAST,
        shape=ServiceShape(vcpus=8, memory_gib=32, gpu_model="A10G", gpu_count=1),
    )
    scenario = make_scenario(
        [svc],
        {
            ("gpu-svc", US_EAST): cell(availability=0.99, gpu=0.10),  # current: holds its GPUs already
            ("gpu-svc", US_WEST): cell(hourly=0.5, availability=0.99, gpu=0.25),
            ("gpu-svc", ALI_HZ): cell(availability=0.99, gpu=0.10),  # below the 0.20 floor: excluded
        },
    )
    decision = scenario.run(1).decisions[0]
    factors = {r.placement.key: r.factors.availability for r in decision.ranking}
    assert factors == APPROX({US_EAST.key: 0.99, US_WEST.key: 0.99})  # no penalty on either side
    # the target's GPU availability 0.25 is just above the 0.20 floor: P(capacity at apply) = Phi(0.5)
    assert decision.target == US_WEST or decision.ranking[0].placement == US_WEST
    assert decision.confidence.gpu_capacity == pytest.approx(0.6915, abs=1e-3)
    scenario.set("gpu-svc", US_WEST, gpu=0.95)
    sure = scenario.run(1).decisions[0]
    assert sure.confidence.gpu_capacity == pytest.approx(1.0, abs=1e-6)
    assert sure.confidence.value > decision.confidence.value
    (excluded,) = decision.excluded
    assert excluded.placement == ALI_HZ
    assert excluded.reasons == ("GPU availability 0.10 below the floor 0.20",)


def test_gpu_model_not_offered_is_excluded() -> None:
    from swen.domain.models import ServiceShape

    svc = service(
        "gpu-svc",
        fleet_placement=US_EAST,
        shape=ServiceShape(vcpus=8, memory_gib=32, gpu_model="A100", gpu_count=1),
    )
    scenario = make_scenario([svc], {("gpu-svc", US_EAST): cell(), ("gpu-svc", ALI_SG): cell(hourly=0.1)})
    decision = scenario.run(1, gpu_models={US_EAST.key: {"A100"}, ALI_SG.key: {"T4"}}).decisions[0]
    assert [e.reasons for e in decision.excluded] == [("no offer with GPU A100",)]


def test_residency_and_quarantine_reasons() -> None:
    svc = service("eu-svc", fleet_placement=US_EAST, allowed_providers=("aws",))
    scenario = make_scenario(
        [svc],
        {
            ("eu-svc", US_EAST): cell(),
            ("eu-svc", US_WEST): cell(hourly=0.2),
            ("eu-svc", ALI_SG): cell(hourly=0.1),
        },
    )
    decision = scenario.run(1, quarantined={("eu-svc", US_WEST.key)}).decisions[0]
    reasons = {e.placement.key: e.reasons for e in decision.excluded}
    assert reasons == {
        US_WEST.key: ("quarantined by self-healing",),
        ALI_SG.key: ("provider/region not allowed for this service (residency)",),
    }
    assert decision.action is DecisionAction.STAY
    assert "it is the only candidate that meets the hard constraints" in decision.explanation


def test_stale_candidate_is_excluded_with_its_age() -> None:
    svc = service("svc-s", fleet_placement=US_EAST)
    scenario = make_scenario([svc], {("svc-s", US_EAST): cell(), ("svc-s", ALI_SG): cell(hourly=0.5)})
    scenario.run(1)
    scenario.run(5, skip=[("svc-s", ALI_SG.key)])  # 150 s without a sample for ALI_SG
    decision = scenario.evaluate().decisions[0]
    (excluded,) = decision.excluded
    assert excluded.reasons == ("stale telemetry (last sample 150 s ago, limit 120 s)",)
    assert decision.confidence.freshness == APPROX(0.5)


def test_kernel_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(7)
    s, c = 40, 6
    monthly = rng.uniform(10, 1000, (s, c))
    p95 = rng.uniform(1, 200, (s, c))
    credits = rng.uniform(0, 5000, (s, c))
    avail = rng.uniform(0.5, 1, (s, c))
    slo = rng.uniform(50, 150, s)
    feasible = rng.random((s, c)) > 0.3
    weights = Weights(cost=0.1, latency=0.2, credits=0.3, availability=0.4)
    out = score(
        monthly=monthly,
        p95_ms=p95,
        credits_usd=credits,
        availability=avail,
        slo_ms=slo,
        feasible=feasible,
        weights=weights,
        amortisation_months=4.0,
    )
    for i in range(s):
        cols = np.flatnonzero(feasible[i])
        if not cols.size:
            assert out.best_idx[i] == -1
            continue
        cheapest = monthly[i, cols].min()
        totals = {
            j: 0.1 * cheapest / monthly[i, j]
            + 0.2 * min(1.0, max(0.0, (1 - p95[i, j] / slo[i]) / 0.5))
            + 0.3 * min(1.0, credits[i, j] / (monthly[i, j] * 4.0))
            + 0.4 * avail[i, j]
            for j in cols
        }
        best = max(totals, key=lambda j: totals[j])
        assert out.best_idx[i] == best
        assert out.total[i, best] == APPROX(totals[best])
        assert np.all(np.isneginf(out.total[i, ~feasible[i]]))


def test_custom_weights_change_the_winner() -> None:
    scenario = three_candidates()
    availability_first = engine_params(weights=Weights(cost=0.0, latency=0.0, credits=0.0, availability=1.0))
    decision = scenario.run(1, params=availability_first).decisions[0]
    assert decision.ranking[0].placement == US_EAST
    assert decision.ranking[0].total == APPROX(1.0)


def test_candidate_without_any_telemetry_is_never_picked() -> None:
    svc = service("svc-m", fleet_placement=US_EAST)
    scenario = make_scenario([svc], {("svc-m", US_EAST): cell(hourly=1.0)}, placements=[ALI_SG, US_EAST])
    decision = scenario.run(3).decisions[0]
    assert [r.placement for r in decision.ranking] == [US_EAST]
    assert [(e.placement, e.reasons) for e in decision.excluded] == [
        (ALI_SG, ("no telemetry in the window",))
    ]
    assert decision.confidence.freshness == APPROX(0.5)


def test_rankings_rebuilt_per_service_agree_with_the_vectorised_cycle() -> None:
    rng = np.random.default_rng(11)
    places = [US_EAST, US_WEST, ALI_SG, ALI_HZ]
    services = [service(f"svc-{i}", fleet_placement=places[i % 4], latency_slo_ms=120) for i in range(12)]
    cells = {
        (s.name, p): cell(
            hourly=float(rng.uniform(0.5, 1.5)),
            latency=float(rng.uniform(5, 150)),
            credits=float(rng.choice([0.0, 500.0])),
            availability=float(rng.uniform(0.85, 1.0)),
        )
        for s in services
        for p in places
    }
    result = make_scenario(services, cells).run(3)
    for i, decision in enumerate(result.decisions):
        best = result.cycle.best_total[i]
        if decision.ranking:
            assert decision.ranking[0].total == best
            assert [r.rank for r in decision.ranking] == list(range(1, len(decision.ranking) + 1))
            assert all(
                a.total >= b.total for a, b in zip(decision.ranking, decision.ranking[1:], strict=False)
            )
        else:
            assert np.isneginf(best)
        assert len(decision.ranking) + len(decision.excluded) == 4
