"""GET /cost-analysis: current monthly cost, realised and projected savings, credits burn-down.

What rarely changes is kept in memory between requests (``api.memo``) at the version of its data
learnt from PostgreSQL's change notifications (``store.versions``): the fleet, the applied placements,
and the spend and credits series of a window within the rolled-up hours (they change when the
rollups, the fleet or a placement do: about once an hour). The newest sample where each service runs
is read on every request (it changes every tick). Without fresh notifications (SQLite, the listener
down or lagging, a write through this replica not yet confirmed) everything is read, as before."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from types import MappingProxyType
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from swen.api.deps import StoreDep, ViewerDep, declares_role
from swen.api.memo import Memo, joint
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
from swen.domain.keys import Role
from swen.domain.models import Service
from swen.moves.running import RunningService, newest_sample_time, running_services
from swen.store import rollups
from swen.store.reads import open_recommendations, savings_totals
from swen.store.versions import VersionProbe

router = APIRouter(tags=["cost"])

BURNDOWN_POINTS = 100
ROLLUP_STEP_S = 3600
"""Windows whose step is an hour or more (4+ days) are read from the rollups: the step is rounded to
whole hours (to whole 6-hour buckets once it reaches 6 hours) and the window starts on the hour (on a
6-hour bucket), so the rollups give the same values as the raw samples would (store/rollups.py)
without reading a month of raw samples; such a window ends at the last rolled-up hour."""


def _window(end: datetime, days: int) -> tuple[datetime, int]:
    """(start, step_s) of the spend and credits series over the last ``days`` days."""
    step = math.ceil(days * 86400 / BURNDOWN_POINTS)
    start = end - timedelta(days=days)
    if step < ROLLUP_STEP_S:
        return start, step  # read from raw samples (store/rollups.py reads an unaligned window raw)
    hours = math.ceil(step / ROLLUP_STEP_S) * ROLLUP_STEP_S
    if hours < rollups.BUCKET_S:
        return rollups.floor_hour(start), hours
    # whole 6-hour buckets, the nearest number of them (30 days: 7.2 h -> 6 h, 120 points): each is
    # one row of telemetry_rollups_6h per service
    buckets = max(1, math.floor(step / rollups.BUCKET_S + 0.5))
    return rollups.floor_bucket(start), buckets * rollups.BUCKET_S


def _series_end(start: datetime, end: datetime, step: int, through: datetime | None) -> datetime:
    """Where a window read from the rollups ends: the last rolled-up hour ``through`` (never before
    ``start``). The hour after it is still raw samples, up to 720 per place at the 5 s interval (79
    million an hour at 10,000 services), which no request can read in seconds. Before the first roll-up
    (a new platform, little telemetry) the window is read raw up to ``end``."""
    if step % ROLLUP_STEP_S:
        return end
    return end if through is None else min(end, max(start, through))


def _reads_raw(start: datetime, end: datetime, step: int, through: datetime | None) -> bool:
    """Whether the series read raw samples (the part after ``through``, or all of an unaligned
    window), which change with every tick; a window within the rolled-up hours changes only with the
    rollups (``store/rollups.py``'s split)."""
    if not rollups.aligned(start, step) or through is None:
        return start < end
    return max(start, min(end, through)) < end


def _service_costs(fleet: Sequence[Service], running: Mapping[str, RunningService]) -> list[ServiceCost]:
    return [_service_cost(svc, running[svc.name]) for svc in fleet]


def _service_cost(svc: Service, running: RunningService) -> ServiceCost:
    return ServiceCost(
        service=svc.name,
        provider=running.placement.provider,
        region=running.placement.region,
        replicas=running.replicas,
        monthly_cost_usd=running.monthly_cost_usd,
        monthly_budget_usd=svc.monthly_budget_usd,
        simulated_price=running.simulated_price,
    )


def _window_end(now: datetime, newest: datetime | None) -> datetime:
    """End of the spend and credits windows: now, or just after the newest sample when an accelerated
    simulator has got ahead of wall time (its samples are stamped in simulated time)."""
    return now if newest is None or newest < now else newest + timedelta(seconds=1)


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
    request: Request,
    store: StoreDep,
    _key: ViewerDep,
    days: Annotated[
        int,
        Query(
            ge=1,
            le=90,
            description="Window of the credits burn-down and the spend series: the last DAYS days up to "
            "now, or up to the newest sample when an accelerated simulator is ahead of wall time. From 5 "
            "days on, the series come from the rollups: whole-hour steps from the hour before the "
            "window's start (from 21 days on, whole 6-hour steps from the 00, 06, 12 or 18 UTC before "
            "it; 30 days: 6 h), up to the last rolled-up hour (series_end).",
        ),
    ] = 7,
) -> Response:
    now = utcnow()
    versions: VersionProbe = request.app.state.versions
    memo: Memo = request.app.state.memo
    # each version before its read: a change during the read leaves the kept value at the older one
    fleet_v = {topic: versions.known(topic) for topic in ("services", "placements")}
    fleet = memo.get("fleet", fleet_v["services"], lambda: tuple(store.list_services()))
    records = memo.get(
        "placements", fleet_v["placements"], lambda: MappingProxyType(store.placement_records())
    )
    running = running_services(store, services=fleet, records=records)
    costs = _service_costs(fleet, running)
    realised, verified = savings_totals(store, [DecisionStatus.VERIFIED], migrations_only=False)
    projected = open_recommendations(store)
    newest = newest_sample_time(running.values())
    end = _window_end(now, newest)
    start, step = _window(end, days)
    rolled = versions.known("rollups")
    through = rollups.rolled_through_at(store)
    end = _series_end(start, end, step, through)
    series_v = [rolled, versions.known("telemetry_samples") if _reads_raw(start, end, step, through) else 0]
    credits = memo.get(
        ("credits", start, end, step),
        joint(series_v),
        partial(rollups.credits_by_provider, store, start=start, end=end, step_s=step),
    )
    where = {name: (r.placement, r.replicas) for name, r in running.items()}
    spend = memo.get(
        ("spend", start, end, step),
        joint([*fleet_v.values(), *series_v]),
        partial(rollups.spend_by_provider, store, start=start, end=end, step_s=step, running=where),
    )
    reply = CostAnalysisOut(
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
        series_end=end,
        newest_sample=newest,
    )
    # serialised once: returned as a model, FastAPI dumps it, validates the dump against the response
    # model and serialises that (10,000 services: three passes over 10,000 rows instead of one)
    return Response(reply.model_dump_json().encode(), media_type="application/json")
