"""The review card of a merge request waiting for a person, and its two-step approve / reject.

The card shows what the API's ``GET /mrs/{id}/review`` gives: why the policy gate wants a person, the
cost table (the service and the fleet, before and after), the plan summary and the tfvars diff.
Approve and Reject never act on one click: the first click asks, with what will happen, and only
"Yes, approve" / "Yes, reject" sends the review.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from swen.api.schemas import MergeRequestOut, MergeRequestReviewOut
from swen.dashboard import data
from swen.dashboard.client import DashboardError
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import md, money, show_error

FLASH_KEY = "review-flash"
CONFIRM_KEY = "review-confirm"
"""Session state: ``{"mr": id, "where": card, "action": "approve" | "reject"}`` awaiting a yes."""


def cost_rows(review: MergeRequestReviewOut) -> list[dict[str, Any]]:
    """The cost table as strings a person reads ($ with thousands separators, signed change)."""
    return [
        {
            "": line.name,
            "before $/month": money(line.before_monthly_usd, cents=True),
            "after $/month": money(line.after_monthly_usd, cents=True),
            "change $/month": money(line.delta_monthly_usd, cents=True, signed=True),
        }
        for line in review.cost
    ]


def reason_text(reason: str) -> str:
    """``confidence_too_low: confidence 0.750 is not above 0.85`` -> the part after the code."""
    code, _, rest = reason.partition(":")
    return f"{rest.strip()} ({code.strip()})" if rest.strip() else reason


def render_review(review: MergeRequestReviewOut) -> None:
    """The reviewer's view: reasons, cost table, plan summary, diff."""
    st.markdown("**Why a person is needed**")
    if review.gate_reasons:
        for reason in review.gate_reasons:
            st.markdown(f"- {md(reason_text(reason))}")
    elif review.gate_outcome is None:
        st.caption("The policy gate has not run yet.")
    else:
        st.caption(f"The policy gate said {review.gate_outcome} without a reason.")
    if review.cost:
        st.markdown("**Monthly cost** (before and after this change)")
        st.dataframe(cost_rows(review), hide_index=True, width="stretch")
    if review.plan is not None:
        stateful = sum(1 for r in review.plan.resources if r.stateful)
        note = f"; {stateful} stateful resource(s)" if stateful else ""
        st.markdown(f"**{review.plan.summary}** (terraform plan{note})")  # SWEN's own words and numbers
        if review.plan.resources:
            rows = [
                {"action": r.action, "resource": r.address, "stateful": "yes" if r.stateful else "no"}
                for r in review.plan.resources
            ]
            st.dataframe(rows, hide_index=True, width="stretch")
    elif review.plan_note:
        st.caption(f"Plan: {review.plan_note}.")
    if review.tfvars_diff:
        with st.expander("tfvars diff", expanded=True):
            st.code(review.tfvars_diff, language="diff")
    if review.diff_note:
        st.caption(review.diff_note)


def review_card(target: ApiTarget, mr: MergeRequestOut, where: str) -> None:
    """One waiting MR: what it is, the reviewer's view, and the approve / reject controls."""
    kind = "" if mr.kind == "migration" else f" ({mr.kind})"
    st.markdown(f"**MR {mr.id}{kind}**: {md(mr.title)}")
    st.caption(f"branch {md(mr.branch)} - decision {md(mr.decision_id)}")
    try:
        render_review(data.review(target, mr.id))
    except DashboardError as exc:
        show_error(exc)
    controls(target, mr, where)


def controls(target: ApiTarget, mr: MergeRequestOut, where: str) -> None:
    """Approve / Reject, each asking for a confirmation first (operator keys only)."""
    if not data.can_operate(target):
        st.info("Approving or rejecting needs an API key with the operator role.")
        return
    asked = st.session_state.get(CONFIRM_KEY)
    if isinstance(asked, dict) and asked.get("mr") == mr.id and asked.get("where") == where:
        _confirm(target, mr, where, str(asked.get("action")))
        return
    cols = st.columns([1, 1, 3])
    reason = cols[2].text_input(
        "Reason (for a rejection)", key=f"reason-{where}-{mr.id}", label_visibility="collapsed",
        placeholder="Reason for a rejection (kept in the audit log)",
    )  # fmt: skip
    if cols[0].button("Approve", key=f"approve-{where}-{mr.id}", type="primary"):
        st.session_state[CONFIRM_KEY] = {"mr": mr.id, "where": where, "action": "approve"}
        st.rerun()
    if cols[1].button("Reject", key=f"reject-{where}-{mr.id}"):
        st.session_state[CONFIRM_KEY] = {"mr": mr.id, "where": where, "action": "reject", "reason": reason}
        st.rerun()


def _confirm(target: ApiTarget, mr: MergeRequestOut, where: str, action: str) -> None:
    if action == "approve":
        st.warning(
            f"Approve MR {mr.id} ({md(mr.service)})? The engine then merges the branch and runs "
            "terraform apply within seconds."
        )
    else:
        st.warning(
            f"Reject MR {mr.id} ({md(mr.service)})? The merge request is closed and its decision rejected."
        )
    cols = st.columns([1, 1, 3])
    yes = "Yes, approve" if action == "approve" else "Yes, reject"
    if cols[0].button(yes, key=f"confirm-{action}-{where}-{mr.id}", type="primary"):
        asked = st.session_state.pop(CONFIRM_KEY, {})
        reason = asked.get("reason") if isinstance(asked, dict) else None
        _act(target, mr, action, str(reason) if reason else None)
    if cols[1].button("Cancel", key=f"cancel-{where}-{mr.id}"):
        st.session_state.pop(CONFIRM_KEY, None)
        st.rerun()


def _act(target: ApiTarget, mr: MergeRequestOut, action: str, reason: str | None) -> None:
    api = data.client(target)
    try:
        with st.spinner(f"{action.capitalize()} MR {mr.id} ..."):
            result = api.approve(mr.id) if action == "approve" else api.reject(mr.id, reason)
    except DashboardError as exc:
        show_error(exc)
        return
    verb = "approved" if action == "approve" else "rejected"
    status = f", decision {result.decision_status}" if result.decision_status else ""
    message = f"MR {mr.id} ({mr.service}) {verb}; it is now {result.merge_request.state}{status}."
    if action == "approve":
        message += " The engine applies it within seconds; the Live Feed shows the apply."
    st.session_state[FLASH_KEY] = message
    data.clear()
    st.rerun()
