"""Builders for the self-healing unit tests: decisions, a store with a fleet, alert payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from swen.domain.decision import (
    Confidence,
    Decision,
    DecisionAction,
    FactorScores,
    ProviderScore,
    Savings,
)
from swen.domain.models import Placement, Service, ServiceShape, Weights

NEVER = "0001-01-01T00:00:00Z"
T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
ALI = Placement(provider="alibaba", region="us-west-1")
GCP = Placement(provider="gcp", region="us-central1")


def service(name: str = "web", *, current: Placement = AWS, stateful: bool = False) -> Service:
    return Service(
        name=name,
        shape=ServiceShape(vcpus=2, memory_gib=8),
        latency_slo_ms=100.0,
        users_region=AWS,
        current=current,
        stateful=stateful,
    )


def _score(placement: Placement, rank: int, monthly: float, current: bool) -> ProviderScore:
    f = FactorScores(cost=0.5, latency=0.5, credits=0.5, availability=0.5)
    return ProviderScore(
        placement=placement, rank=rank, factors=f, contributions=f, total=0.5, monthly_cost_usd=monthly,
        latency_ms=30.0, credits_usd=0.0, availability=0.999, gpu_availability=1.0,
        instance_type="m5.large", is_current=current,
    )  # fmt: skip


def decision(
    n: int,
    *,
    svc: str = "web",
    current: Placement = AWS,
    target: Placement = ALI,
    emergency: bool = True,
    at: datetime = T0,
    current_monthly: float = 140.0,
    target_monthly: float = 120.0,
) -> Decision:
    delta = (target_monthly - current_monthly) / current_monthly * 100
    return Decision(
        id=f"d-{svc}-{n}",
        service=svc,
        created_at=at,
        action=DecisionAction.MIGRATE,
        emergency=emergency,
        current=current,
        target=target,
        ranking=(_score(target, 1, target_monthly, False), _score(current, 2, current_monthly, True)),
        excluded=(),
        confidence=Confidence(
            value=0.6,
            margin=0.3,
            margin_term=0.9,
            stability=0.2,
            stability_cycles=2,
            stability_window=10,
            freshness=1.0,
        ),
        savings=Savings(
            current_monthly_usd=current_monthly,
            target_monthly_usd=target_monthly,
            gross_monthly_usd=current_monthly - target_monthly,
            credits_offset_monthly_usd=0.0,
            migration_cost_usd=5.0,
            amortisation_months=6.0,
            net_monthly_usd=current_monthly - target_monthly - 5 / 6,
            cost_delta_pct=delta,
        ),
        weights=Weights(),
        explanation=f"emergency: move {svc} off {current.key} to {target.key}",
        reasons=("current placement unhealthy",),
    )


def alert(
    name: str = "ProviderOutage",
    *,
    svc: str = "web",
    where: Placement = AWS,
    status: str = "firing",
    kind: str = "outage",
    self_healing: bool = True,
    starts: datetime = T0,
    fingerprint: str = "a1",
) -> dict[str, Any]:
    labels = {"alertname": name, "service": svc, "provider": where.provider, "region": where.region,
              "severity": "critical", "kind": kind}  # fmt: skip
    if self_healing:
        labels["self_healing"] = "true"
    return {
        "version": "4", "groupKey": "{}:{}", "status": status, "receiver": "swen-platform",
        "alerts": [{
            "status": status, "labels": labels, "annotations": {"summary": f"{name} for {svc}"},
            "startsAt": starts.isoformat(),
            "endsAt": (starts + timedelta(minutes=5)).isoformat() if status == "resolved" else NEVER,
            "fingerprint": fingerprint,
        }],
    }  # fmt: skip
