"""Overview: where each service runs now, KPIs, health per provider, incidents and escalations."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import streamlit as st

from swen.api.schemas import ServiceOut, TelemetryPoint
from swen.dashboard import charts, data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import is_simulated, simulated_caption
from swen.dashboard.tabs.incidents import incident_rows
from swen.domain.providers import PROVIDERS

ACTIVE_INCIDENT_STATUSES = ("open", "remediating", "escalated")


def provider_health(services: Sequence[ServiceOut], latest: Sequence[TelemetryPoint]) -> list[dict[str, Any]]:
    """Per provider: services placed there, mean availability, error rate and latency of their samples."""
    by_key = {(p.service, p.provider, p.region): p for p in latest}
    rows: dict[str, list[TelemetryPoint]] = defaultdict(list)
    placed: dict[str, int] = defaultdict(int)
    for s in services:
        where = s.running.placement
        placed[where.provider] += 1
        sample = by_key.get((s.name, where.provider, where.region))
        if sample is not None:
            rows[where.provider].append(sample)
    out = []
    for provider in sorted(placed):
        samples = rows.get(provider, [])
        n = len(samples) or 1
        out.append(
            {
                "provider": provider,
                "services": placed[provider],
                "with data": len(samples),
                "availability": round(sum(p.availability for p in samples) / n, 4) if samples else None,
                "error rate": round(sum(p.error_rate for p in samples) / n, 4) if samples else None,
                "p95 latency ms": round(sum(p.latency_ms for p in samples) / n, 1) if samples else None,
                "prices": "SIMULATED" if is_simulated(provider) else "list price",
            }
        )
    return out


def _kpis(target: ApiTarget) -> None:
    cost = data.cost_analysis(target, 7)
    opened, open_mrs = data.merge_requests(target, "opened")
    waiting = [m for m in opened if m.waiting_for_person]
    incidents = data.incidents(target)
    cols = st.columns(5)
    simulated = any(c.simulated_price for c in cost.services)
    cols[0].metric(
        "Monthly spend",
        f"${cost.total_monthly_usd:,.0f}",
        help="Sum over services of hourly x 730 on their current placement"
        + (" (includes SIMULATED Alibaba prices)" if simulated else ""),
    )
    cols[1].metric(
        "Savings realised", f"${cost.savings_realised_monthly_usd:,.0f}/mo",
        help=f"Net monthly savings of {cost.verified_decisions} verified move(s)",
    )  # fmt: skip
    cols[2].metric(
        "Savings projected", f"${cost.savings_projected_monthly_usd:,.0f}/mo",
        help=f"{cost.open_recommendations} open recommendation(s)",
    )  # fmt: skip
    cols[3].metric(
        "Open MRs", f"{open_mrs}",
        help=f"{len(waiting)} waiting for a person's approval (AI Decisions, Waiting for review)",
    )  # fmt: skip
    if incidents is None:
        cols[4].metric("Incidents", "n/a", help="This API does not expose incidents (no GET /incidents).")
    else:
        active = [i for i in incidents if i.get("status") in ACTIVE_INCIDENT_STATUSES]
        escalated = sum(1 for i in active if i.get("status") == "escalated")
        cols[4].metric("Incidents", f"{len(active)}", help=f"active; {escalated} escalated to a person")
    if simulated:
        simulated_caption()


def _incidents(target: ApiTarget) -> None:
    incidents = data.incidents(target)
    if incidents is None:
        st.caption("Incidents: this API does not expose them yet (GET /incidents answered 404).")
        return
    active = [i for i in incidents if i.get("status") in ACTIVE_INCIDENT_STATUSES]
    if not active:
        st.success("No active incidents.")
        return
    escalated = [i for i in active if i.get("status") == "escalated"]
    if escalated:
        names = ", ".join(f"{i.get('service')} on {i.get('provider')}" for i in escalated)
        st.error(f"Escalated to a person: {names}. Automation stopped remediating these.")
    st.dataframe(incident_rows(active), hide_index=True, width="stretch")
    st.caption("Details, timeline and cost impact: the Incidents tab.")


def _recent(incidents: list[dict[str, Any]]) -> None:
    resolved = [i for i in incidents if i.get("status") == "resolved"]
    if not resolved:
        return
    with st.expander(f"Resolved incidents ({len(resolved)})"):
        st.dataframe(incident_rows(resolved), hide_index=True, width="stretch")


def _readiness(target: ApiTarget) -> None:
    ready = data.readiness(target)
    if ready.get("status") != "ready":
        problems = "; ".join(str(p) for p in ready.get("problems", [])) or "unknown"
        st.warning(f"The platform is not fully ready: {problems}.")


def render(target: ApiTarget) -> None:
    services = data.services(target)
    if not services:
        st.info("No services yet: start the platform with `swen up` (or the simulator with `swen simulate`).")
        return
    _readiness(target)
    _kpis(target)
    latest = data.latest_telemetry(target)
    left, right = st.columns([3, 2])
    with left:
        providers = PROVIDERS.names()
        st.plotly_chart(charts.placement_matrix(services, providers), width="stretch", key="placement-matrix")
    with right:
        health = provider_health(services, latest)
        rows = [(h["provider"], h["availability"] or 0.0, h["error rate"] or 0.0) for h in health]
        st.plotly_chart(charts.provider_health(rows), width="stretch", key="provider-health")
        shown = [{k: "-" if v is None else v for k, v in row.items()} for row in health]
        st.dataframe(shown, hide_index=True, width="stretch")
    st.subheader("Incidents and escalations")
    _incidents(target)
    _recent(data.incidents(target) or [])
