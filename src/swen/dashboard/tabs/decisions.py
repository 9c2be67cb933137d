"""AI Decisions: the list with filters, and a drill-down into one decision and its merge request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from swen.api.schemas import DecisionOut, MergeRequestOut
from swen.dashboard import charts, data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs import catalog, queue, review
from swen.dashboard.tabs.common import md, money, simulated_caption, when
from swen.domain.decision import DecisionStatus

ALL = "All"
DECISION_COLUMNS = {
    "id": st.column_config.TextColumn(width="small"),
    "net $/month": st.column_config.TextColumn(width="medium"),
    "move": st.column_config.TextColumn(width="medium"),
    "explanation": st.column_config.TextColumn(width="large"),
}


def decision_rows(items: Sequence[DecisionOut]) -> list[dict[str, Any]]:
    rows = []
    for d in items:
        target = next((s for s in d.ranking if s.placement == d.target), None)
        rows.append(
            {
                "id": d.id,
                "created": when(d.created_at),
                "service": d.service,
                "status": d.status.value,
                "net $/month": money(d.savings.net_monthly_usd, signed=True),
                "confidence": round(d.confidence.value, 3),
                "action": d.action.value + _kind(d),
                "move": f"{d.current.key} -> {d.target.key}",
                "target price": "SIMULATED" if target is not None and target.simulated_price else "list",
                "catalog": "-" if d.catalog_version is None else f"v{d.catalog_version}",
                "explanation": d.explanation,
            }
        )
    return rows


def ranking_rows(d: DecisionOut) -> list[dict[str, Any]]:
    return [
        {
            "rank": s.rank,
            "candidate": s.placement.key
            + (" (current)" if s.is_current else "")
            + (" (chosen)" if s.placement == d.target and d.action.value == "migrate" else ""),
            "total": round(s.total, 4),
            "cost": round(s.contributions.cost, 4),
            "latency": round(s.contributions.latency, 4),
            "credits": round(s.contributions.credits, 4),
            "availability": round(s.contributions.availability, 4),
            "$/month": money(s.monthly_cost_usd),
            "price": "SIMULATED" if s.simulated_price else "list",
            "p95 ms": round(s.latency_ms, 1),
            "credits $": money(s.credits_usd),
            "avail.": round(s.availability, 4),
            "GPU avail.": round(s.gpu_availability, 3),
            "instance": s.instance_type,
        }
        for s in d.ranking
    ]


def _filters(target: ApiTarget) -> tuple[str | None, str | None, str, bool]:
    names = [s.name for s in data.services(target)]
    cols = st.columns(4)
    service = cols[0].selectbox("Service", [ALL, *names], key="dec-service")
    status = cols[1].selectbox("Status", [ALL, *(s.value for s in DecisionStatus)], key="dec-status")
    action = cols[2].selectbox("Action", [ALL, "migrate", "stay"], key="dec-action")
    emergency = cols[3].checkbox("Emergencies only", key="dec-emergency")
    return (None if service == ALL else service, None if status == ALL else status, action, emergency)


def waiting_for_review(mrs: Sequence[MergeRequestOut]) -> list[MergeRequestOut]:
    """Every MR waiting for a person, whatever its kind (migration, emergency, rollback), oldest first."""
    return sorted((m for m in mrs if m.state == "opened" and m.waiting_for_person), key=lambda m: m.id)


def _waiting(target: ApiTarget, pending: Sequence[MergeRequestOut]) -> None:
    st.subheader(f"Waiting for review ({len(pending)})")
    if not pending:
        st.caption("No merge request waits for a person.")
    for mr in pending:
        with st.container(border=True):
            review.review_card(target, mr, "list")


def _drilldown(target: ApiTarget, d: DecisionOut, mrs: Sequence[MergeRequestOut]) -> None:
    st.subheader(f"{d.service}: {d.action.value} {d.current.key} -> {d.target.key}")
    cols = st.columns(4)
    cols[0].metric("Status", d.status.value)
    cols[1].metric("Confidence", f"{d.confidence.value:.2f}")
    cols[2].metric("Net savings", f"${d.savings.net_monthly_usd:,.0f}/mo")
    cols[3].metric("Cost change", f"{d.savings.cost_delta_pct:+.1f} %")
    st.markdown(f"**Explanation.** {d.explanation}")
    for reason in d.reasons:
        st.markdown(f"- {reason}")
    if any(s.simulated_price for s in d.ranking):
        simulated_caption()
    st.markdown("**Ranking** (contribution = weight x factor score)")
    st.dataframe(ranking_rows(d), hide_index=True, width="stretch")
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.factor_contributions(d.ranking), width="stretch", key=f"factors-{d.id}")
    with right:
        st.plotly_chart(charts.confidence_parts(d.confidence), width="stretch", key=f"confidence-{d.id}")
        c = d.confidence
        st.caption(
            f"confidence = margin term {c.margin_term:.2f} (margin {c.margin:+.3f}) x (0.5 + 0.5 x stability "
            f"{c.stability:.2f}, {c.stability_cycles} of {c.stability_window} cycles) x freshness "
            f"{c.freshness:.2f}"
        )
    st.markdown("**Excluded candidates and why**")
    if d.excluded:
        rows = [{"candidate": e.placement.key, "why not": "; ".join(e.reasons)} for e in d.excluded]
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption("No candidate was excluded.")
    sv = d.savings
    st.caption(
        f"Savings: ${sv.current_monthly_usd:,.0f} -> ${sv.target_monthly_usd:,.0f}/month, credits offset "
        f"${sv.credits_offset_monthly_usd:,.0f}/month, migration ${sv.migration_cost_usd:,.0f} over "
        f"{sv.amortisation_months:g} months -> net ${sv.net_monthly_usd:,.0f}/month."
    )
    st.caption(md(catalog.decision_line(d.catalog_version, catalog.versions_or_none(target))))
    _merge_request(target, d, mrs)
    with st.expander("Lifecycle (audit events)"):
        history: list[dict[str, object]] = [
            {"event": e.event_id, "time": when(e.ts), "type": e.type, "status": e.status} for e in d.history
        ]
        st.dataframe(history, hide_index=True, width="stretch")


def _merge_request(target: ApiTarget, d: DecisionOut, mrs: Sequence[MergeRequestOut]) -> None:
    mine = [m for m in mrs if m.decision_id == d.id]
    st.markdown("**Merge request and pipeline**")
    if not mine:
        st.caption("No merge request for this decision (the engine only advised, or it was not acted on).")
        return
    mr = mine[0]
    link = f" ([open]({mr.web_url}))" if mr.web_url else ""
    st.markdown(
        f"MR {mr.id} `{mr.branch}` on {mr.host}: **{mr.state}**, review {mr.review or '-'}, "
        f"approved by {md(mr.approved_by or '-')}{link}"
    )
    st.plotly_chart(charts.pipeline_timeline(mr), width="stretch", key=f"pipeline-{mr.id}")
    if mr.waiting_for_person:
        with st.expander(f"Review MR {mr.id}", expanded=False):
            review.render_review(data.review(target, mr.id))
            review.controls(target, mr, "detail")


def render(target: ApiTarget) -> None:
    flash = st.session_state.pop(review.FLASH_KEY, None)
    if flash:
        st.success(flash)
    service, status, action, emergency = _filters(target)
    items, total = data.decisions(target, service, status)
    mrs, _ = data.merge_requests(target)
    _waiting(target, waiting_for_review(mrs))
    unfiltered = items if service is None and status is None else data.decisions(target, None, None)[0]
    queue.section(target, unfiltered)  # the whole queue, whatever the filters: the workers' order
    shown = [
        d for d in items if (action == ALL or d.action.value == action) and (not emergency or d.emergency)
    ]
    st.subheader(f"Decisions ({len(shown)} shown of {total})")
    if not shown:
        st.info(
            "No decisions match: the engine records a decision when a move clears its thresholds "
            "(confidence above the minimum, net savings above the minimum); widen the filters or wait."
        )
        return
    st.dataframe(decision_rows(shown), hide_index=True, width="stretch", column_config=DECISION_COLUMNS)
    by_id = {d.id: d for d in shown}
    chosen = st.selectbox(
        "Drill down into", list(by_id), key="dec-drill",
        format_func=lambda i: f"{by_id[i].service}: {by_id[i].current.key} -> {by_id[i].target.key} "
        f"({by_id[i].status.value}, {i})",
    )  # fmt: skip
    if chosen:
        _drilldown(target, by_id[chosen], mrs)


def _kind(d: DecisionOut) -> str:
    """What kind of move it is, beside its action: an emergency or an SLO repair."""
    if d.emergency:
        return " (emergency)"
    return " (SLO repair)" if d.slo_repair else ""
