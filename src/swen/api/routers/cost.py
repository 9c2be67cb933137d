"""GET /cost-analysis: current monthly cost, realised and projected savings, credits burn-down."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from swen.api.auth import Role
from swen.api.deps import StoreDep, ViewerDep, declares_role
from swen.api.schemas import (
    CostAnalysisOut,
    CreditsBurndown,
    CreditsPoint,
    ProviderCost,
    ProviderSpend,
    ServiceCost,
    SpendPoint,
)
from swen.domain.clock import utcnow
from swen.domain.decision import DecisionStatus
from swen.store.history import credits_by_provider, spend_by_provider
from swen.store.reads import open_recommendations, savings_totals
from swen.store.repository import Store

router = APIRouter(tags=["cost"])

BURNDOWN_POINTS = 100


def _service_costs(store: Store) -> list[ServiceCost]:
    applied = store.get_placements()
    latest = {(s.service, s.provider, s.region): s for s in store.latest_samples()}
    out = []
    for svc in store.list_services():
        where = applied.get(svc.name, svc.current)
        sample = latest.get((svc.name, where.provider, where.region))
        out.append(
            ServiceCost(
                service=svc.name,
                provider=where.provider,
                region=where.region,
                replicas=svc.replicas,
                monthly_cost_usd=sample.monthly_cost_usd * svc.replicas if sample else None,
                monthly_budget_usd=svc.monthly_budget_usd,
                simulated_price=sample.simulated_price if sample else False,
            )
        )
    return out


def _by_provider(costs: list[ServiceCost]) -> list[ProviderCost]:
    totals: dict[str, tuple[int, float]] = {}
    for c in costs:
        n, usd = totals.get(c.provider, (0, 0.0))
        totals[c.provider] = (n + 1, usd + (c.monthly_cost_usd or 0.0))
    return [
        ProviderCost(provider=p, services=n, monthly_cost_usd=usd) for p, (n, usd) in sorted(totals.items())
    ]


@router.get(
    "/cost-analysis",
    response_model=CostAnalysisOut,
    summary="Costs per service and provider, savings realised and projected, credits (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def cost_analysis(
    store: StoreDep,
    _key: ViewerDep,
    days: Annotated[int, Query(ge=1, le=90, description="Window of the credits burn-down.")] = 7,
) -> CostAnalysisOut:
    now = utcnow()
    costs = _service_costs(store)
    realised, verified = savings_totals(store, [DecisionStatus.VERIFIED], migrations_only=False)
    projected = open_recommendations(store)
    step = math.ceil(days * 86400 / BURNDOWN_POINTS)
    credits = credits_by_provider(store, start=now - timedelta(days=days), end=now, step_s=step)
    replicas = {s.service: s.replicas for s in costs}
    spend = spend_by_provider(
        store, start=now - timedelta(days=days), end=now, step_s=step, replicas=replicas
    )
    return CostAnalysisOut(
        generated_at=now,
        total_monthly_usd=sum(c.monthly_cost_usd or 0.0 for c in costs),
        services=costs,
        by_provider=_by_provider(costs),
        savings_realised_monthly_usd=realised,
        verified_decisions=verified,
        savings_projected_monthly_usd=sum(projected.values()),
        open_recommendations=len(projected),
        credits_burndown=[
            CreditsBurndown(provider=p, points=[CreditsPoint(ts=ts, credits_usd=c) for ts, c in points])
            for p, points in credits.items()
        ],
        spend_by_provider=[
            ProviderSpend(provider=p, points=[SpendPoint(ts=ts, monthly_usd=usd) for ts, usd in points])
            for p, points in spend.items()
        ],
        credits_step_s=step,
    )
