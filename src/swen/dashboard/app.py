"""The SWEN dashboard (Streamlit entry script): ``swen dashboard`` runs ``streamlit run`` on this file.

It reads only the API (URL and key from the settings: SWEN_API_URL or SWEN_API_HOST/PORT, and
SWEN_API_KEY). Tabs are lazy and bound to the URL (``?tab=Cost+Analysis``): only the open tab runs.
The open tab redraws itself every SWEN_DASHBOARD_REFRESH_S seconds (changeable in the sidebar).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from swen.config import load_settings
from swen.dashboard import data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs import catalog, common, cost, decisions, feed, incidents, overview, pause, telemetry
from swen.domain.errors import SwenError

TABS: dict[str, Callable[[ApiTarget], None]] = {
    "Overview": overview.render,
    "AI Decisions": decisions.render,
    "Incidents": incidents.render,
    "Cost Analysis": cost.render,
    "Telemetry": telemetry.render,
    "Live Feed": feed.render,
}
REFRESH_CHOICES = (0.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def _refresh_label(seconds: float) -> str:
    return "off" if seconds == 0 else f"every {seconds:g} s"


def _sidebar(target: ApiTarget) -> float | None:
    st.sidebar.title("SWEN")
    st.sidebar.caption(f"API: {target.url}")
    choices = sorted({*REFRESH_CHOICES, target.refresh_s})
    refresh = st.sidebar.selectbox(
        "Auto-refresh", choices, index=choices.index(target.refresh_s), format_func=_refresh_label,
        key="refresh-s", help="Default from SWEN_DASHBOARD_REFRESH_S.",
    )  # fmt: skip
    if st.sidebar.button("Refresh now", key="refresh-now"):
        data.clear()
    if target.key is None:
        st.sidebar.warning("No API key (SWEN_API_KEY).")
    else:
        try:
            role = "operator" if data.can_operate(target) else "viewer"
            st.sidebar.caption(f"Key role: {role}")
        except SwenError:
            pass
    catalog.sidebar(target)
    pause.sidebar(target)
    st.sidebar.caption(common.SIMULATED_NOTE)
    return float(refresh) if refresh else None


def _tab(draw: Callable[[ApiTarget], None], target: ApiTarget, refresh_s: float | None) -> None:
    def body() -> None:
        pause.banner(target)  # on every tab, refreshed with it
        common.guarded(target, draw)

    st.fragment(body, run_every=refresh_s)()


def main() -> None:
    st.set_page_config(page_title="SWEN", page_icon=":cloud:", layout="wide")
    try:
        settings = load_settings()
    except SwenError as exc:
        st.error(f"The dashboard's settings are invalid: {exc}.")
        return
    target = ApiTarget.from_settings(settings)
    refresh_s = _sidebar(target)
    tabs = st.tabs(list(TABS), key="tab", bind="query-params")
    for container, (name, draw) in zip(tabs, TABS.items(), strict=True):
        if container.open is False:
            continue
        with container:
            st.header(name)
            _tab(draw, target, refresh_s)


if __name__ == "__main__":
    main()
