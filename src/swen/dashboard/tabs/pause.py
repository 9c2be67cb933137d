"""The automation switch on every tab: a banner while automatic applies are paused, and (operator
keys) pause / resume in the sidebar, through ``GET /automation`` and ``POST /automation/pause|resume``."""

from __future__ import annotations

import streamlit as st

from swen.dashboard import data
from swen.dashboard.client import DashboardError
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import md, show_error, when

FLASH_KEY = "automation-flash"


def banner(target: ApiTarget) -> None:
    """A warning at the top of the tab while automation is paused (nothing when running or unknown)."""
    try:
        state = data.automation(target)
    except DashboardError:
        return  # the tab itself reports an unreachable API
    if not state.paused:
        return
    why = f": {md(state.reason)}" if state.reason else ""
    st.warning(
        f"**Automation is paused** since {when(state.at)} by {md(state.by or 'unknown')}{why}. "
        "Nothing is merged or applied without a person's approval; decisions are still recorded.",
        icon=":material/pause_circle:",
    )


def sidebar(target: ApiTarget) -> None:
    """The switch's state, and pause / resume for operator keys."""
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.sidebar.success(flash)
    try:
        state = data.automation(target)
        operator = data.can_operate(target)
    except DashboardError:
        return
    st.sidebar.caption("Automation: " + ("**paused**" if state.paused else "running"))
    if not operator:
        return
    reason = st.sidebar.text_input(
        "Reason", key="automation-reason", placeholder="Why (kept in the audit log)"
    )
    label = "Resume automation" if state.paused else "Pause automation"
    if st.sidebar.button(label, key="automation-toggle", type="secondary"):
        try:
            new = data.client(target).set_automation(paused=not state.paused, reason=reason or None)
        except DashboardError as exc:
            with st.sidebar:
                show_error(exc)
            return
        st.session_state[FLASH_KEY] = "Automation paused." if new.paused else "Automation resumed."
        data.clear()
        st.rerun()
