"""Telemetry: cost, latency (with the SLO line), availability and GPU availability over time."""

from __future__ import annotations

import streamlit as st

from swen.dashboard import charts, data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import simulated_caption
from swen.domain.providers import PROVIDERS

ALL = "All"
RANGES = {"1 hour": 1.0, "6 hours": 6.0, "24 hours": 24.0, "7 days": 168.0, "30 days": 720.0}


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
    st.caption(
        f"{name} runs on **{where.key}**; SLO {service.latency_slo_ms:g} ms; "
        f"{len(points)} points ending {latest:%Y-%m-%d %H:%M} UTC (newest sample)."
    )
    if any(p.simulated_price for p in points):
        simulated_caption()
    left, right = st.columns(2)
    left.plotly_chart(charts.telemetry_series(points, "monthly_cost_usd"), width="stretch", key="tel-cost")
    right.plotly_chart(
        charts.telemetry_series(points, "latency_ms", slo_ms=service.latency_slo_ms),
        width="stretch", key="tel-latency",
    )  # fmt: skip
    left, right = st.columns(2)
    left.plotly_chart(
        charts.telemetry_series(points, "availability"), width="stretch", key="tel-availability"
    )
    right.plotly_chart(charts.telemetry_series(points, "gpu_availability"), width="stretch", key="tel-gpu")
    if not service.shape.gpu_model:
        right.caption(f"{name} needs no GPU: its GPU availability is reported as 1.")
