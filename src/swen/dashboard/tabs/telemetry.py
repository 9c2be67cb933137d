"""Telemetry: cost, latency (with the SLO line), availability and GPU availability over time."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from swen.dashboard import charts, data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import simulated_caption
from swen.domain.providers import PROVIDERS

ALL = "All"
MOVED = ("applied", "verified", "rolled_back")
"""Decisions whose move happened (their time on the platform clock marks the charts)."""
RANGES = {"1 hour": 1.0, "6 hours": 6.0, "24 hours": 24.0, "7 days": 168.0, "30 days": 720.0}


def chart_marks(
    target: ApiTarget, service: str, current: str, start: datetime, end: datetime
) -> charts.Marks:
    """The current placement, the service's moves and its incidents inside [start, end)."""
    decisions, _ = data.decisions(target, service, None)
    moves = [
        (d.created_at, f"move to {d.target.key}")
        for d in decisions
        if d.status.value in MOVED and d.action.value == "migrate" and start <= d.created_at < end
    ]
    spans = []
    for i in data.incidents(target) or []:
        if i.get("service") != service or not isinstance(i.get("opened_at"), str):
            continue
        opened = datetime.fromisoformat(i["opened_at"])
        resolved = datetime.fromisoformat(i["resolved_at"]) if isinstance(i.get("resolved_at"), str) else None
        if opened < end and (resolved is None or resolved >= start):
            spans.append((max(opened, start), resolved, f"incident {i.get('id')}: {i.get('kind')}"))
    return charts.Marks(current=current, moves=moves, incidents=spans)


def render(target: ApiTarget) -> None:
    services = data.services(target)
    if not services:
        st.info("No services yet: start the platform with `swen up`.")
        return
    by_name = {s.name: s for s in services}
    cols = st.columns(3)
    name = cols[0].selectbox("Service", list(by_name), key="tel-service", bind="query-params")
    providers = PROVIDERS.names()
    provider = cols[1].selectbox("Provider", [ALL, *providers], key="tel-provider", bind="query-params")
    span = cols[2].selectbox("Time range", list(RANGES), index=2, key="tel-range", bind="query-params")
    service = by_name[name]
    latest = data.newest_sample_time(data.latest_telemetry(target))
    if latest is None:
        st.info("No telemetry yet: start the simulator (`swen up` or `swen simulate`).")
        return
    start, end = data.window(latest, RANGES[span])
    points = data.telemetry_history(target, name, None if provider == ALL else provider, start, end)
    if not points:
        st.info(f"No telemetry for {name} on {provider.lower()} providers in the last {span}.")
        return
    where = service.running.placement
    marks = chart_marks(target, name, where.key, start, end)
    st.caption(
        f"{name} runs on **{where.key}**; SLO {service.latency_slo_ms:g} ms; "
        f"{len(points)} points ending {latest:%Y-%m-%d %H:%M} UTC (newest sample)."
    )
    if any(p.simulated_price for p in points):
        simulated_caption()
    left, right = st.columns(2)
    left.plotly_chart(
        charts.telemetry_series(points, "monthly_cost_usd", marks=marks), width="stretch", key="tel-cost"
    )
    right.plotly_chart(
        charts.telemetry_series(points, "latency_ms", slo_ms=service.latency_slo_ms, marks=marks),
        width="stretch", key="tel-latency",
    )  # fmt: skip
    left, right = st.columns(2)
    left.plotly_chart(
        charts.telemetry_series(points, "availability", marks=marks), width="stretch", key="tel-availability"
    )
    right.plotly_chart(
        charts.telemetry_series(points, "gpu_availability", marks=marks), width="stretch", key="tel-gpu"
    )
    if not service.shape.gpu_model:
        right.caption(f"{name} needs no GPU: its GPU availability is reported as 1.")
