"""Incidents: the list, and one incident's post-incident report (``GET /incidents/{id}``): summary,
time to recovery, cost impact, the timeline, the alerts, the actions taken and the policy gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import streamlit as st

from swen.dashboard import data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import md, money, text_or_dash

STATUSES = ("All", "open", "remediating", "escalated", "resolved")


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 4 min``, ``1 d 3 h``; "-" when unknown."""
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def clock(iso: object) -> str:
    """An ISO time as ``2026-12-04 21:30:05 UTC``; "-" for none."""
    if not isinstance(iso, str) or not iso:
        return "-"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


def incident_rows(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": i.get("id"),
            "service": text_or_dash(i.get("service")),
            "where": f"{i.get('provider')}/{i.get('region') or '*'}",
            "kind": text_or_dash(i.get("kind")),
            "status": text_or_dash(i.get("status")),
            "source": text_or_dash(i.get("source")),
            "opened": clock(i.get("opened_at")),
            "recovered in": duration(i.get("time_to_recovery_s")),
            "decision": text_or_dash(i.get("decision_id")),
        }
        for i in items
    ]


def timeline_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {
            "time": clock(e.get("ts")),
            "event": text_or_dash(e.get("type")),
            "what": text_or_dash(e.get("what")),
        }
        for e in report.get("timeline") or []
        if isinstance(e, dict)
    ]


def alert_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    return [
        {
            "alert": text_or_dash(a.get("alertname")), "status": text_or_dash(a.get("status")),
            "severity": text_or_dash(a.get("severity")), "started": clock(a.get("starts_at")),
            "received": clock(a.get("received_at")),
        }
        for a in report.get("alerts") or []
        if isinstance(a, dict)
    ]  # fmt: skip


def action_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """What the platform did: each remediation attempt (decision, move, outcome)."""
    return [
        {
            "decision": text_or_dash(a.get("decision_id")),
            "move": f"{a.get('from')} -> {a.get('to')}",
            "emergency": "yes" if a.get("emergency") else "no",
            "status": text_or_dash(a.get("status")),
            "failure": text_or_dash(a.get("failure")),
        }
        for a in report.get("attempts") or []
        if isinstance(a, dict)
    ]


def _detail(target: ApiTarget, incident_id: int) -> None:
    report = data.incident(target, incident_id)
    st.subheader(f"Incident {incident_id}")
    st.markdown(md(report.get("summary")))
    impact = report.get("cost_impact") or {}
    cols = st.columns(4)
    cols[0].metric("Status", str((report.get("incident") or {}).get("status", "-")))
    cols[1].metric("Time to recovery", duration(report.get("time_to_recovery_s")))
    cols[2].metric(
        "Cost impact",
        money(impact.get("monthly_impact_usd"), signed=True) + "/mo" if impact else "-",
        help="Net change of the monthly bill (positive: costs more)"
        + (
            f": list price {money(impact.get('list_price_before_usd'))} -> "
            f"{money(impact.get('list_price_after_usd'))}/month, credits offset "
            f"{money(impact.get('credits_offset_usd'))}, migration "
            f"{money(impact.get('migration_amortised_usd'))}/month amortised"
            if impact
            else " (no move yet)"
        ),
    )
    detector = report.get("first_detector") or {}
    lead = detector.get("lead_s")
    cols[3].metric(
        "First detected by",
        text_or_dash(detector.get("source")),
        help=f"{duration(lead)} ahead of the other detector" if lead is not None else None,
    )
    escalation = report.get("escalation")
    if escalation:
        at = clock(escalation.get("escalated_at"))
        st.error(f"Escalated to a person at {at}: {md(escalation.get('reason'))}")
    policy = report.get("policy")
    if policy:
        reasons = "; ".join(str(r) for r in policy.get("reasons") or []) or "no reason given"
        override = " (emergency override)" if policy.get("override") else ""
        outcome = md(policy.get("outcome") or "not run")
        st.markdown(f"**Policy gate** on MR {policy.get('mr_id')}: {outcome}{override}: {md(reasons)}")
    st.markdown("**Actions taken**")
    actions = action_rows(report)
    if actions:
        st.dataframe(actions, hide_index=True, width="stretch")
    else:
        st.caption("No remediation was attempted (yet).")
    st.markdown("**Timeline**")
    st.dataframe(timeline_rows(report), hide_index=True, width="stretch")
    st.markdown("**Alerts**")
    alerts = alert_rows(report)
    if alerts:
        st.dataframe(alerts, hide_index=True, width="stretch")
    else:
        st.caption("No Alertmanager alert: the engine's own anomaly detector opened it.")


def render(target: ApiTarget) -> None:
    items = data.incidents(target)
    if items is None:
        st.info("This API does not expose incidents (GET /incidents answered 404).")
        return
    status = st.selectbox("Status", STATUSES, key="inc-status")
    shown = [i for i in items if status == "All" or i.get("status") == status]
    st.caption(f"{len(shown)} of {len(items)} incident(s), newest first.")
    if not shown:
        st.success("No incidents." if not items else "No incident has this status.")
        return
    st.dataframe(incident_rows(shown), hide_index=True, width="stretch")
    by_id = {int(i["id"]): i for i in shown if isinstance(i.get("id"), int)}
    chosen = st.selectbox(
        "Details of", list(by_id), key="inc-detail",
        format_func=lambda i: f"{i}: {by_id[i].get('kind')} of {by_id[i].get('service')} "
        f"on {by_id[i].get('provider')} ({by_id[i].get('status')})",
    )  # fmt: skip
    if chosen is not None:
        _detail(target, chosen)
