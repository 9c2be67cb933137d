"""Small factories for store tests (services, samples, decisions)."""

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

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_service(name: str = "api", provider: str = "aws", region: str = "us-east-1") -> Service:
    return Service(
        name=name,
        shape=ServiceShape(vcpus=4, memory_gib=16),
        latency_slo_ms=120,
        users_region=Placement(provider="aws", region="us-east-1"),
        current=Placement(provider=provider, region=region),
    )


def make_sample(
    service: str = "api",
    provider: str = "aws",
    region: str = "us-east-1",
    ts: datetime = T0,
    cost: float = 1.0,
) -> TelemetrySample:
    return TelemetrySample(
        service=service,
        provider=provider,
        region=region,
        ts=ts,
        instance_type="m5.xlarge",
        hourly_cost_usd=cost,
        latency_ms=42.5,
        credits_usd=100.0,
        gpu_availability=1.0,
        availability=0.999,
        error_rate=0.001,
        simulated_price=provider == "alibaba",
    )


def samples_series(n: int, *, start: datetime = T0, step_s: float = 5.0) -> list[TelemetrySample]:
    places = [("aws", "us-east-1"), ("aws", "eu-west-1"), ("alibaba", "cn-hangzhou")]
    out = []
    for i in range(n):
        provider, region = places[i % len(places)]
        out.append(make_sample(provider=provider, region=region, ts=start + timedelta(seconds=step_s * i)))
    return out


def make_decision(
    decision_id: str = "d-1",
    service: str = "api",
    created_at: datetime = T0,
    confidence: float = 0.9,
) -> Decision:
    current = Placement(provider="aws", region="us-east-1")
    target = Placement(provider="alibaba", region="cn-hangzhou")
    factors = FactorScores(cost=0.9, latency=0.8, credits=0.5, availability=1.0)
    score = ProviderScore(
        placement=target,
        rank=1,
        factors=factors,
        contributions=FactorScores(cost=0.36, latency=0.2, credits=0.1, availability=0.15),
        total=0.81,
        monthly_cost_usd=500.0,
        latency_ms=40.0,
        credits_usd=0.0,
        availability=0.999,
        gpu_availability=1.0,
        instance_type="ecs.g7.xlarge",
        simulated_price=True,
    )
    return Decision(
        id=decision_id,
        service=service,
        created_at=created_at,
        action=DecisionAction.MIGRATE,
        current=current,
        target=target,
        ranking=(score,),
        excluded=(),
        confidence=Confidence(
            value=confidence,
            margin=0.2,
            margin_term=0.8,
            stability=1.0,
            stability_cycles=10,
            stability_window=10,
            freshness=1.0,
        ),
        savings=Savings(
            current_monthly_usd=700.0,
            target_monthly_usd=500.0,
            gross_monthly_usd=200.0,
            credits_offset_monthly_usd=0.0,
            migration_cost_usd=30.0,
            amortisation_months=6.0,
            net_monthly_usd=195.0,
            cost_delta_pct=-28.57,
        ),
        weights=Weights(),
        explanation="alibaba/cn-hangzhou is cheaper",
    )
