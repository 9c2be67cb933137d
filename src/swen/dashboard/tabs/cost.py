"""Cost Analysis: spend per provider over time, savings realised and projected, services, credits."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import streamlit as st

from swen.api.schemas import CostAnalysisOut, DecisionOut, ServiceCost
from swen.dashboard import charts, data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import is_simulated, money, simulated_caption
from swen.domain.decision import TERMINAL_STATUSES

RANGES = {"1 day": 1, "7 days": 7, "30 days": 30}
TOP_SERVICES = 40
"""Bars in the per-service chart."""
TABLE_ROWS = 500
"""Rows of the per-service table, the most expensive first: 10,000 rows cost the tab seconds to send
and draw, and the whole list is in ``GET /cost-analysis`` and ``swen services``."""


def spend_chart_series(cost: CostAnalysisOut) -> dict[str, list[tuple[datetime, float]]]:
    """What "Spend per provider over time" plots: /cost-analysis's own ``spend_by_provider`` series
    (per provider and bucket, hourly x 730 x replicas of each service where it runs)."""
    return {s.provider: [(p.ts, p.monthly_usd) for p in s.points] for s in cost.spend_by_provider}


def credits_chart_series(cost: CostAnalysisOut) -> dict[str, list[tuple[datetime, float]]]:
    return {c.provider: [(p.ts, p.credits_usd) for p in c.points] for c in cost.credits_burndown}


Series = dict[str, list[tuple[datetime, float]]]


def on_the_clock(series: Series, first: datetime | None, last: datetime | None) -> Series:
    """The buckets as they happened: the first bucket starts at the first sample (never before the
    platform started), and the newest bucket's value holds until the newest sample, so a platform one
    minute old draws a line from its start to now instead of one dot (or nothing)."""
    out: Series = {}
    for key, points in series.items():
        pts = sorted(points)
        if not pts:
            continue
        if first is not None and pts[0][0] < first:
            pts[0] = (min(first, last) if last is not None else first, pts[0][1])
        if last is not None and last > pts[-1][0]:
            pts.append((last, pts[-1][1]))
        out[key] = pts
    return out


def spend_simulated(cost: CostAnalysisOut) -> set[str]:
    """Providers of the spend chart whose prices are SIMULATED."""
    priced = {c.provider for c in cost.services if c.simulated_price}
    return priced | {s.provider for s in cost.spend_by_provider if is_simulated(s.provider)}


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


def table_services(cost: CostAnalysisOut, limit: int) -> list[ServiceCost]:
    """The per-service table's rows: the ``limit`` most expensive services (unknown cost last)."""
    ranked = sorted(cost.services, key=lambda c: (c.monthly_cost_usd is None, -(c.monthly_cost_usd or 0.0)))
    return ranked[:limit]


def table_note(shown: int, total: int) -> str:
    return (
        f"Showing the {shown:,} most expensive of {total:,} services; all of them are in "
        "`GET /cost-analysis` (the API) and `swen services`."
    )


def _kpis(cost: CostAnalysisOut) -> None:
    cols = st.columns(4)
    cols[0].metric("Monthly spend", f"${cost.total_monthly_usd:,.0f}")
    cols[1].metric("Savings realised", f"${cost.savings_realised_monthly_usd:,.0f}/mo")
    cols[2].metric("Savings projected", f"${cost.savings_projected_monthly_usd:,.0f}/mo")
    cols[3].metric("Open recommendations", f"{cost.open_recommendations}")


@dataclass(frozen=True)
class CostView:
    cost: CostAnalysisOut
    decisions: list[DecisionOut]
    verified: list[DecisionOut]


def load(target: ApiTarget, days: int) -> CostView:
    """Everything the tab shows, the three API reads in parallel."""
    api = data.client(target)
    with ThreadPoolExecutor(max_workers=3) as pool:
        cost = pool.submit(api.cost_analysis, days=days)
        decisions = pool.submit(api.decisions, limit=200)
        verified = pool.submit(api.decisions, status="verified", limit=200)
        return CostView(cost.result(), list(decisions.result().items), list(verified.result().items))


def _clock(target: ApiTarget, cost: CostAnalysisOut) -> tuple[datetime | None, datetime | None]:
    """(first sample time, the time the series are drawn until) for the spend and credit series."""
    starts = [p.ts for s in cost.spend_by_provider for p in s.points[:1]]
    starts += [p.ts for c in cost.credits_burndown for p in c.points[:1]]
    if not starts:
        return None, None
    first_bucket = min(starts)
    first = data.first_sample_time(
        target, first_bucket, first_bucket + timedelta(seconds=cost.credits_step_s)
    )
    return first, drawn_until(cost, cost.newest_sample)  # not every latest sample (110,000 at 10,000)


def drawn_until(cost: CostAnalysisOut, newest: datetime | None) -> datetime | None:
    """The newest sample, or where the series end when that is earlier (a window read from the rollups
    ends at the last rolled-up hour: the chart does not draw the last value on past what it covers)."""
    if cost.series_end is None or newest is None:
        return newest
    return min(newest, cost.series_end)


def spend_caption(cost: CostAnalysisOut) -> str:
    """What each point of "Spend per provider over time" is, its bucket and where the series end."""
    step = cost.credits_step_s
    if step % 21600 == 0:
        width = f"{step // 3600}-hour buckets starting 00, 06, 12 and 18 UTC"
    elif step % 3600 == 0:
        width = f"{step // 3600}-hour buckets" if step > 3600 else "hourly buckets"
    else:
        width = f"{step // 60}-minute buckets" if step >= 60 else f"{step}-second buckets"
    text = (
        f"Each point: every service's mean hourly price where it runs now x 730 x its replicas, summed "
        f"per provider, over {width}."
    )
    if step % 3600 == 0 and cost.series_end is not None:
        text += (
            f" From the rollups, up to {cost.series_end:%Y-%m-%d %H:%M} UTC (the last hour rolled "
            "up; newer telemetry joins once the maintenance step rolls its hour up, within about an hour)."
        )
    return text


def _spend(cost: CostAnalysisOut, clock: tuple[datetime | None, datetime | None]) -> None:
    if not cost.spend_by_provider:
        st.info("No spend in this range yet: it needs telemetry of the services where they run (`swen up`).")
        return
    series = on_the_clock(spend_chart_series(cost), *clock)
    figure = charts.spend_by_provider(series, spend_simulated(cost))
    st.plotly_chart(figure, width="stretch", key="spend")
    st.caption(spend_caption(cost))


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
    clock = _clock(target, cost)
    _spend(cost, clock)
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
        listed = (
            "every service is in the table below"
            if len(cost.services) <= TABLE_ROWS
            else f"the table below lists the {TABLE_ROWS:,} most expensive"
        )
        st.caption(
            f"The {TOP_SERVICES} most expensive of {len(rows)} services; the other {len(others)} cost "
            f"${sum(r[2] for r in others):,.0f}/month together ({listed})."
        )
    with st.expander("Per-service breakdown (table)"):
        shown = table_services(cost, TABLE_ROWS)
        if len(shown) < len(cost.services):
            st.caption(table_note(len(shown), len(cost.services)))
        st.dataframe(
            [
                {
                    "service": c.service, "placement": f"{c.provider}/{c.region}",
                    "$/month": money(c.monthly_cost_usd),
                    "price": "SIMULATED" if c.simulated_price else "list",
                    "budget $/month": money(c.monthly_budget_usd) if c.monthly_budget_usd else "no budget",
                }
                for c in shown
            ],
            hide_index=True, width="stretch",
        )  # fmt: skip
    if cost.credits_burndown:
        credits = on_the_clock(credits_chart_series(cost), *clock)
        st.plotly_chart(charts.credits_burndown(credits), width="stretch", key="credits")
    else:
        st.info("No credit balance reported in this range.")
