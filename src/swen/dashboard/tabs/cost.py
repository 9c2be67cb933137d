"""Cost Analysis: spend per provider over time, savings realised and projected, services, credits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from swen.api.schemas import CostAnalysisOut, DecisionOut, ServiceOut, TelemetryPoint
from swen.dashboard import charts, data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import is_simulated, simulated_caption
from swen.domain.decision import TERMINAL_STATUSES

RANGES = {"1 day": 1, "7 days": 7, "30 days": 30}
TOP_SERVICES = 40
"""Bars in the per-service chart (the table lists every service)."""
MAX_SPEND_SERIES = 50
"""Services whose spend history is fetched (one API request each); the rest count at current cost."""
SPEND_POINTS = 48
"""Buckets per series in the spend-over-time chart (server-side averages)."""


def spend_series(points: Sequence[TelemetryPoint]) -> dict[str, list[tuple[datetime, float]]]:
    """Sum of monthly cost per provider per time bucket (points: the placements' own history)."""
    sums: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    for p in points:
        sums[p.provider][p.ts] += p.monthly_cost_usd
    return {provider: sorted(by_ts.items()) for provider, by_ts in sums.items()}


def cumulative(verified: Sequence[DecisionOut]) -> list[tuple[datetime, float]]:
    """Running total of net monthly savings, in the order the moves were verified."""
    total = 0.0
    out: list[tuple[datetime, float]] = []
    for d in sorted(verified, key=lambda d: d.updated_at):
        if not out:
            out.append((d.created_at, 0.0))  # the step starts from nothing saved
        total += d.savings.net_monthly_usd
        out.append((d.updated_at, total))
    return out


def open_recommendations(items: Sequence[DecisionOut]) -> list[tuple[str, float, bool]]:
    """Newest open migration per service: (label, net $/month, simulated target price)."""
    seen: set[str] = set()
    out = []
    for d in sorted(items, key=lambda d: d.created_at, reverse=True):
        if d.action.value != "migrate" or d.status in TERMINAL_STATUSES or d.service in seen:
            continue
        seen.add(d.service)
        target = next((s for s in d.ranking if s.placement == d.target), None)
        simulated = target.simulated_price if target else is_simulated(d.target.provider)
        out.append((f"{d.service} -> {d.target.key}", d.savings.net_monthly_usd, simulated))
    return out


def _kpis(cost: CostAnalysisOut) -> None:
    cols = st.columns(4)
    cols[0].metric("Monthly spend", f"${cost.total_monthly_usd:,.0f}")
    cols[1].metric("Savings realised", f"${cost.savings_realised_monthly_usd:,.0f}/mo")
    cols[2].metric("Savings projected", f"${cost.savings_projected_monthly_usd:,.0f}/mo")
    cols[3].metric("Open recommendations", f"{cost.open_recommendations}")


@dataclass(frozen=True)
class SpendPlan:
    """Which placements get their history fetched (the most expensive, at most ``MAX_SPEND_SERIES``)
    and the current monthly cost of the others per provider (added as a constant)."""

    fetched: tuple[tuple[str, str, str], ...]
    others: dict[str, float]
    others_count: int
    fetched_share: float


def plan_spend(services: Sequence[ServiceOut], latest: Sequence[TelemetryPoint], limit: int) -> SpendPlan:
    """The ``limit`` most expensive placements by their latest cost; the rest summed per provider."""
    cost_now = {(p.service, p.provider, p.region): p.monthly_cost_usd for p in latest}
    placed = [
        ((s.name, where.provider, where.region), cost_now.get((s.name, where.provider, where.region), 0.0))
        for s in services
        for where in [s.placement or s.current]
    ]
    placed.sort(key=lambda item: item[1], reverse=True)
    others: dict[str, float] = defaultdict(float)
    for (_, provider, _), usd in placed[limit:]:
        others[provider] += usd
    total = sum(usd for _, usd in placed) or 1.0
    share = sum(usd for _, usd in placed[:limit]) / total
    return SpendPlan(tuple(key for key, _ in placed[:limit]), dict(others), len(placed[limit:]), share)


def spend_with_others(
    series: dict[str, list[tuple[datetime, float]]], others: dict[str, float]
) -> dict[str, list[tuple[datetime, float]]]:
    """Add each provider's not-fetched services at their current cost to every bucket."""
    times = sorted({t for points in series.values() for t, _ in points})
    out = {p: [(t, v + others.get(p, 0.0)) for t, v in points] for p, points in series.items()}
    for provider, usd in others.items():
        if provider not in out and times:
            out[provider] = [(t, usd) for t in times]
    return out


@dataclass(frozen=True)
class CostView:
    cost: CostAnalysisOut
    decisions: list[DecisionOut]
    verified: list[DecisionOut]
    spend: list[TelemetryPoint] | None
    """History of the planned placements; None without telemetry."""
    plan: SpendPlan


def load(target: ApiTarget, days: int) -> CostView:
    """Everything the tab shows; the quick reads run while the spend history loads."""
    api = data.client(target)
    services = data.services(target)
    latest = data.latest_telemetry(target)
    newest = data.newest_sample_time(latest)
    plan = plan_spend(services, latest, MAX_SPEND_SERIES)
    with ThreadPoolExecutor(max_workers=3) as pool:
        cost = pool.submit(api.cost_analysis, days=days)
        decisions = pool.submit(api.decisions, limit=200)
        verified = pool.submit(api.decisions, status="verified", limit=200)
        spend = None
        if newest is not None:
            start, end, step = data.aligned_window(newest, days * 24.0, SPEND_POINTS)
            spend = data.placement_history(target, plan.fetched, start, end, step)
        return CostView(
            cost.result(), list(decisions.result().items), list(verified.result().items), spend, plan
        )


def _spend(view: CostView) -> None:
    if view.spend is None:
        st.info("No telemetry yet, so no spend history: start the simulator (`swen up`).")
        return
    simulated = {p.provider for p in view.spend if p.simulated_price}
    simulated |= {p for p in view.plan.others if is_simulated(p)}
    series = spend_with_others(spend_series(view.spend), view.plan.others)
    st.plotly_chart(charts.spend_by_provider(series, simulated), width="stretch", key="spend")
    if view.plan.others_count:
        st.caption(
            f"History of the {len(view.plan.fetched)} most expensive services "
            f"({view.plan.fetched_share:.0%} of spend); the other {view.plan.others_count} are added at "
            "their current cost (one API request per service is fetched for the history)."
        )


def render(target: ApiTarget) -> None:
    label = st.radio(
        "Range", list(RANGES), index=1, horizontal=True, key="cost-range", bind="query-params",
        help="Window of the spend history and the credits burn-down (also `?cost-range=30+days` in the URL).",
    )  # fmt: skip
    days = RANGES[label]
    view = load(target, days)
    cost = view.cost
    if not cost.services:
        st.info("No services yet: start the platform with `swen up`.")
        return
    _kpis(cost)
    if any(c.simulated_price for c in cost.services) or any(
        is_simulated(p.provider) for p in cost.by_provider
    ):
        simulated_caption()
    _spend(view)
    decisions, verified = view.decisions, view.verified
    left, right = st.columns(2)
    with left:
        if verified:
            st.plotly_chart(
                charts.cumulative_savings(cumulative(verified)), width="stretch", key="cumulative"
            )
        else:
            st.info("No savings realised yet: a move counts once its new placement is verified healthy.")
    with right:
        projected = open_recommendations(decisions)
        if projected:
            st.plotly_chart(charts.projected_savings(projected), width="stretch", key="projected")
        else:
            st.info("No open recommendations: nothing is projected to be saved right now.")
    rows = sorted(
        (
            (c.service, c.provider, c.monthly_cost_usd, c.simulated_price)
            for c in cost.services
            if c.monthly_cost_usd is not None
        ),
        key=lambda r: r[2],
        reverse=True,
    )
    st.plotly_chart(charts.service_costs(rows[:TOP_SERVICES]), width="stretch", key="service-costs")
    if len(rows) > TOP_SERVICES:
        others = rows[TOP_SERVICES:]
        st.caption(
            f"The {TOP_SERVICES} most expensive of {len(rows)} services; the other {len(others)} cost "
            f"${sum(r[2] for r in others):,.0f}/month together (every service is in the table below)."
        )
    with st.expander("Per-service breakdown (table)"):
        st.dataframe(
            [
                {
                    "service": c.service, "placement": f"{c.provider}/{c.region}",
                    "$/month": None if c.monthly_cost_usd is None else round(c.monthly_cost_usd, 2),
                    "price": "SIMULATED" if c.simulated_price else "list",
                    "budget $/month": c.monthly_budget_usd,
                }
                for c in cost.services
            ],
            hide_index=True, width="stretch",
        )  # fmt: skip
    if cost.credits_burndown:
        st.plotly_chart(charts.credits_burndown(cost.credits_burndown), width="stretch", key="credits")
    else:
        st.info("No credit balance reported in this range.")
