"""Which price catalog version is in force (the sidebar) and which one a decision was made with (its
detail): ``GET /catalog/versions`` and the decision's ``catalog_version``. A refresh
(`swen catalog refresh --from FILE`) adds a version; a decision made before it keeps naming the
prices it was made with, so a reader can tell an old decision's figures from today's prices.
"""

from __future__ import annotations

import streamlit as st

from swen.api.catalog_schemas import CatalogVersionOut, CatalogVersionsOut
from swen.dashboard import data
from swen.dashboard.data import ApiTarget
from swen.dashboard.tabs.common import md, when
from swen.domain.errors import SwenError


def _described(version: CatalogVersionOut) -> str:
    origin = "the packaged prices" if version.kind == "packaged" else f"refreshed from {version.source}"
    return f"version {version.id} ({origin}, {when(version.created_at)})"


def active_line(versions: CatalogVersionsOut) -> str:
    """The prices in force now, for the sidebar."""
    active = next((v for v in versions.versions if v.id == versions.active), None)
    if active is None:
        return "Price catalog: no version recorded yet (the engine records one at its first cycle)"
    return f"Price catalog: {_described(active)}"


def decision_line(version: int | None, versions: CatalogVersionsOut | None) -> str:
    """Which prices a decision was made with, against the active ones."""
    if version is None:
        return (
            "Prices: no catalog version recorded with this decision (a person's choice, a pinned "
            "catalog, or a decision older than catalog versions)"
        )
    known = {v.id: v for v in versions.versions} if versions is not None else {}
    made_with = _described(known[version]) if version in known else f"version {version}"
    if versions is None or versions.active is None:
        return f"Prices: catalog {made_with}"
    if version == versions.active:
        return f"Prices: catalog {made_with}, the active one"
    return (
        f"Prices: catalog {made_with}; the active version is {versions.active}, so today's prices "
        f"differ (`swen catalog show {version}` lists the prices it used)"
    )


def versions_or_none(target: ApiTarget) -> CatalogVersionsOut | None:
    """The versions, or None when the API cannot say (an older API, a refused key, down)."""
    try:
        return data.catalog_versions(target)
    except SwenError:
        return None


def sidebar(target: ApiTarget) -> None:
    versions = versions_or_none(target)
    if versions is not None:
        st.sidebar.caption(md(active_line(versions)))
