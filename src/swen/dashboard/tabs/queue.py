"""The action queue on the AI Decisions tab: every move queued or being carried out, in the order the
leader engine's workers take them (emergencies first, then the most valuable), and why a held one
waits ("waiting: change budget full (20 open MRs)", "waiting: automation is paused"). It reads
``GET /actions``, the view ``swen queue`` prints; the reason is data, escaped to print literally.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from swen.api.action_schemas import ActionOut, ActionPage
from swen.api.schemas import DecisionOut
from swen.dashboard import data
from swen.dashboard.client import ApiNotFoundError
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import md, money

ACTIVE_STATES = ("pending", "running")
PAGE = 50


def _target(action: ActionOut, decision: DecisionOut | None) -> str:
    if action.kind == "rollback":
        return f"rollback of MR {action.mr_id}" if action.mr_id is not None else "rollback"
    return decision.target.key if decision is not None else action.provider


def _state(action: ActionOut) -> str:
    if action.state.value == "running":
        return "running"
    return "held" if action.waiting else "next"


def _why(action: ActionOut) -> str:
    if action.state.value == "running":
        return f"being carried out by worker {action.worker or '?'}"
    return action.waiting or "goes when a worker is free"


def queue_rows(page: ActionPage, decisions: Sequence[DecisionOut]) -> list[dict[str, str]]:
    """One row per queued or running action, in the API's order (the order the workers take them).
    The target is the decision's placement when the decision is among ``decisions``, else its
    provider; the value is the move's net monthly saving (a rollback goes before every move)."""
    by_id = {d.id: d for d in decisions}
    rows: list[dict[str, str]] = []
    for action in (a for a in page.items if a.state.value in ACTIVE_STATES):
        decision = by_id.get(action.decision_id) if action.decision_id else None
        rows.append(
            {
                "#": str(len(rows) + 1),
                "service": action.service,
                "move": action.kind + (" (emergency)" if action.emergency else ""),
                "target": _target(action, decision),
                "net $/month": "-" if action.kind == "rollback" else money(action.priority, signed=True),
                "state": _state(action),
                "waiting": _why(action),
            }
        )
    return rows


def summary(page: ActionPage, shown: int) -> str:
    """One line: how many wait, how many are held, how many run, the budget in use."""
    pending, running = page.counts.get("pending", 0), page.counts.get("running", 0)
    held = sum(1 for a in page.items if a.state.value == "pending" and a.waiting)
    line = f"{pending} pending ({held} held), {running} running. {page.budget.summary}."
    if pending + running > shown:
        line += f" The first {shown} are shown; `swen queue` lists them all."
    return line


def section(target: ApiTarget, decisions: Sequence[DecisionOut]) -> None:
    """The "Action queue" part of the AI Decisions tab."""
    try:
        page = data.actions(target, PAGE)
    except ApiNotFoundError:
        st.caption("This API has no action queue (GET /actions): upgrade it to see held moves.")
        return
    rows = queue_rows(page, decisions)
    st.subheader(f"Action queue ({len(rows)})")
    if not rows:
        st.caption(
            "No move is queued: the leader engine's workers have carried out every move decided so far "
            f"({md(page.budget.summary)})."
        )
        return
    st.caption(md(summary(page, len(rows))))
    # a static table (text a reader can select and a browser test can read); st.table reads Markdown,
    # so every cell is escaped to print literally: a reason is data, never markup
    st.table([{md(k): md(v) for k, v in row.items()} for row in rows], hide_index=True)
