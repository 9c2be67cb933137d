"""One builder per domain object: realistic defaults, every field overridable by keyword.

The defaults describe one plausible platform, the one of ``infra/terraform.tfvars`` (and of the
smaller ``tests/fixtures/infra_template``): service-1 runs on aws/us-east-1 on an m5.large ($140.16
a month), its users are there too, and the engine recommends moving it to alibaba/ap-southeast-1
(ecs.g7.large, $110 a month). A test names every value it asserts on; what it does not name may
change.

Placements may be given as ``Placement`` or as ``"provider/region"``.
"""

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
from swen.domain.models import HOURS_PER_MONTH, Placement, Service, ServiceShape, TelemetrySample, Weights
from swen.engine.confidence import margin_term

T0 = datetime(2026, 11, 1, tzinfo=UTC)
"""The tests' "now" unless a test says otherwise."""
HOME = "aws/us-east-1"
"""Where the default service runs and where its users are."""
CHEAPER = "alibaba/ap-southeast-1"
"""Where the default decision moves it."""
AMORTISATION_MONTHS = 6.0
ORDERS_API: dict[str, Any] = {
    "service": "orders-api",
    "current_type": "r5.2xlarge",
    "target_type": "ecs.r7.2xlarge",
    "stateful": True,
}
"""``decision(id, **ORDERS_API)``: a move of the platform's stateful service (an r5.2xlarge on
aws/us-east-1 in infra/terraform.tfvars), which the policy gate always hands to a person."""

Where = Placement | str


def placement(key: Where = HOME) -> Placement:
    """``placement("gcp/us-central1")``."""
    return key if isinstance(key, Placement) else Placement.parse(key)


def service(
    name: str,
    *,
    fleet_placement: Where = HOME,
    users_region: Where = HOME,
    **overrides: Any,
) -> Service:
    """A stateless 2 vCPU / 8 GiB service (an m5.large) with a 100 ms latency SLO; ``overrides`` are
    ``Service`` fields (``shape``, ``stateful``, ``replicas``, ``monthly_budget_usd``, ...)."""
    fields: dict[str, Any] = {
        "name": name,
        "shape": ServiceShape(vcpus=2, memory_gib=8),
        "latency_slo_ms": 100.0,
        "users_region": placement(users_region),
        "fleet_placement": placement(fleet_placement),
    }
    return Service(**(fields | overrides))


def provider_score(
    where: Where = CHEAPER,
    *,
    rank: int = 1,
    instance_type: str = "ecs.g7.large",
    monthly_cost_usd: float = 110.0,
    factors: FactorScores | float | None = None,
    weights: Weights | None = None,
    **overrides: Any,
) -> ProviderScore:
    """One ranked candidate whose contributions are ``weights x factors`` and whose total is their sum.

    ``factors`` is a ``FactorScores`` or one score for all four factors (then it is also the total).
    ``simulated_price`` follows the provider (Alibaba Cloud prices are synthetic) unless overridden;
    ``overrides`` are other ``ProviderScore`` fields (``is_current``, ``latency_ms``, ...).
    """
    at = placement(where)
    if isinstance(factors, int | float):
        factors = FactorScores(cost=factors, latency=factors, credits=factors, availability=factors)
    f = factors or FactorScores(cost=1.0, latency=0.7, credits=0.5, availability=0.9)
    w = weights or Weights()
    contributions = FactorScores(
        cost=w.cost * f.cost,
        latency=w.latency * f.latency,
        credits=w.credits * f.credits,
        availability=w.availability * f.availability,
    )
    total = contributions.cost + contributions.latency + contributions.credits + contributions.availability
    fields: dict[str, Any] = {
        "placement": at,
        "rank": rank,
        "factors": f,
        "contributions": contributions,
        "total": min(total, 1.0),
        "monthly_cost_usd": monthly_cost_usd,
        "latency_ms": 40.0,
        "credits_usd": 0.0,
        "availability": 0.999,
        "gpu_availability": 1.0,
        "instance_type": instance_type,
        "simulated_price": at.provider == "alibaba",
        "is_current": False,
    }
    return ProviderScore(**(fields | overrides))


def decision(
    decision_id: str = "d-1",
    *,
    service: str = "service-1",
    current: Where = HOME,
    target: Where = CHEAPER,
    current_type: str = "m5.large",
    target_type: str = "ecs.g7.large",
    current_cost: float = 140.16,
    target_cost: float = 110.0,
    migration_cost: float = 4.5,
    confidence: float | None = None,
    net_monthly: float | None = None,
    stateful: bool = False,
    emergency: bool = False,
    created_at: datetime | None = None,
    **overrides: Any,
) -> Decision:
    """A MIGRATE decision of ``service`` from ``current`` to ``target``, consistent throughout.

    The ranking holds the target (rank 1) and the current placement (rank 2); the cost factor is
    cheapest/cost, the other factors are equal, so the margin is the cost difference's weight. The
    confidence parts follow the margin with a stable winner and fresh data; ``confidence`` overrides
    the value only. Savings: gross = current - target, net = gross - migration / 6 months (or
    ``net_monthly``). ``created_at`` defaults to ``T0`` plus a fixed offset per id (under an hour),
    so decisions with different ids get different branches. ``overrides`` are other ``Decision``
    fields (``explanation``, ``reasons``, ``ranking``, ...).
    """
    cur, tgt = placement(current), placement(target)
    cheapest = min(current_cost, target_cost)

    def score(at: Placement, rank: int, instance_type: str, cost: float) -> ProviderScore:
        factors = FactorScores(
            cost=cheapest / cost if cost else 1.0, latency=0.7, credits=0.5, availability=0.9
        )
        return provider_score(
            at,
            rank=rank,
            instance_type=instance_type,
            monthly_cost_usd=cost,
            factors=factors,
            is_current=rank == 2,
        )

    ranking = (score(tgt, 1, target_type, target_cost), score(cur, 2, current_type, current_cost))
    margin = ranking[0].total - ranking[1].total
    term = float(margin_term(margin))
    gross = current_cost - target_cost
    net = gross - migration_cost / AMORTISATION_MONTHS if net_monthly is None else net_monthly
    delta_pct = (target_cost - current_cost) / current_cost * 100 if current_cost else 0.0
    change = f"{abs(delta_pct):.1f}% cheaper than" if delta_pct <= 0 else f"{delta_pct:.1f}% dearer than"
    fields: dict[str, Any] = {
        "id": decision_id,
        "service": service,
        "created_at": created_at or T0 + timedelta(seconds=sum(map(ord, decision_id)) % 3600),
        "action": DecisionAction.MIGRATE,
        "emergency": emergency,
        "stateful": stateful,
        "current": cur,
        "target": tgt,
        "ranking": ranking,
        "excluded": (),
        "confidence": Confidence(
            value=term if confidence is None else confidence,
            margin=margin,
            margin_term=term,
            stability=1.0,
            stability_cycles=10,
            stability_window=10,
            freshness=1.0,
        ),
        "savings": Savings(
            current_monthly_usd=current_cost,
            target_monthly_usd=target_cost,
            gross_monthly_usd=gross,
            credits_offset_monthly_usd=0.0,
            migration_cost_usd=migration_cost,
            amortisation_months=AMORTISATION_MONTHS,
            net_monthly_usd=net,
            cost_delta_pct=delta_pct,
        ),
        "weights": Weights(),
        "explanation": f"{tgt} is {change} {cur} at similar latency.",
    }
    return Decision(**(fields | overrides))


def telemetry_sample(
    service: str = "service-1",
    where: Where = HOME,
    *,
    ts: datetime = T0,
    hourly: float = 140.16 / HOURS_PER_MONTH,
    latency: float = 40.0,
    credits: float = 0.0,
    **overrides: Any,
) -> TelemetrySample:
    """One healthy observation of ``service`` on ``where`` (an m5.large at $0.192 an hour, 40 ms);
    ``overrides`` are other ``TelemetrySample`` fields (``availability``, ``instance_type``, ...).
    ``simulated_price`` follows the provider unless overridden."""
    at = placement(where)
    fields: dict[str, Any] = {
        "service": service,
        "provider": at.provider,
        "region": at.region,
        "ts": ts,
        "instance_type": "m5.large",
        "hourly_cost_usd": hourly,
        "latency_ms": latency,
        "credits_usd": credits,
        "gpu_availability": 1.0,
        "availability": 0.999,
        "error_rate": 0.001,
        "simulated_price": at.provider == "alibaba",
    }
    return TelemetrySample(**(fields | overrides))


def telemetry_series(
    n: int,
    *,
    service: str = "service-1",
    start: datetime = T0,
    step_s: float = 5.0,
    places: tuple[str, ...] = ("aws/us-east-1", "aws/eu-west-1", "alibaba/cn-hangzhou"),
    **overrides: Any,
) -> list[TelemetrySample]:
    """``n`` samples ``step_s`` apart from ``start``, cycling over ``places``."""
    return [
        telemetry_sample(
            service, places[i % len(places)], ts=start + timedelta(seconds=step_s * i), **overrides
        )
        for i in range(n)
    ]
