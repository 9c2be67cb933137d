"""Small builders of domain objects for API tests (services, samples, decisions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from swen.domain.decision import (
    Confidence,
    Decision,
    DecisionAction,
    FactorScores,
    ProviderScore,
    Savings,
)
from swen.domain.models import Placement, Service, ServiceShape, TelemetrySample, Weights

T0 = datetime(2026, 11, 1, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
ALI = Placement(provider="alibaba", region="cn-hangzhou")


def service(
    name: str, *, current: Placement = AWS, budget: float | None = 5000.0, replicas: int = 1
) -> Service:
    return Service(
        name=name,
        shape=ServiceShape(vcpus=4, memory_gib=16),
        latency_slo_ms=120.0,
        users_region=AWS,
        current=current,
        monthly_budget_usd=budget,
        replicas=replicas,
    )


def sample(
    svc: str,
    placement: Placement = AWS,
    *,
    ts: datetime = T0,
    hourly: float = 1.0,
    credits: float = 1000.0,
    latency: float = 40.0,
) -> TelemetrySample:
    return TelemetrySample(
        service=svc,
        provider=placement.provider,
        region=placement.region,
        ts=ts,
        instance_type="m5.xlarge",
        hourly_cost_usd=hourly,
        latency_ms=latency,
        credits_usd=credits,
        gpu_availability=1.0,
        availability=0.999,
        error_rate=0.001,
        simulated_price=placement.provider == "alibaba",
    )


def _score(placement: Placement, rank: int, total: float, monthly: float, current: bool) -> ProviderScore:
    f = FactorScores(cost=total, latency=total, credits=total, availability=total)
    c = FactorScores(cost=0.4 * total, latency=0.25 * total, credits=0.2 * total, availability=0.15 * total)
    return ProviderScore(
        placement=placement,
        rank=rank,
        factors=f,
        contributions=c,
        total=total,
        monthly_cost_usd=monthly,
        latency_ms=40.0,
        credits_usd=100.0,
        availability=0.999,
        gpu_availability=1.0,
        instance_type="m5.xlarge",
        simulated_price=placement.provider == "alibaba",
        is_current=current,
    )


def decision(
    svc: str,
    *,
    n: int = 0,
    net: float = 200.0,
    confidence: float = 0.9,
    created_at: datetime | None = None,
) -> Decision:
    created = created_at or T0 + timedelta(minutes=n)
    return Decision(
        id=f"d-{svc}-{n}",
        service=svc,
        created_at=created,
        action=DecisionAction.MIGRATE,
        current=AWS,
        target=ALI,
        ranking=(_score(ALI, 1, 0.8, 500.0, False), _score(AWS, 2, 0.6, 730.0, True)),
        excluded=(),
        confidence=Confidence(
            value=confidence,
            margin=0.2,
            margin_term=0.9,
            stability=1.0,
            stability_cycles=10,
            stability_window=10,
            freshness=1.0,
        ),
        savings=Savings(
            current_monthly_usd=730.0,
            target_monthly_usd=500.0,
            gross_monthly_usd=230.0,
            credits_offset_monthly_usd=0.0,
            migration_cost_usd=180.0,
            amortisation_months=6.0,
            net_monthly_usd=net,
            cost_delta_pct=-31.5,
        ),
        weights=Weights(),
        explanation=f"move {svc} to alibaba/cn-hangzhou: cheaper by $230/month",
        reasons=("cheaper",),
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
