"""Cached reads from the API (``st.cache_data`` with a short TTL) and the connection settings.

Every function takes an :class:`ApiTarget` (URL + key) so two dashboards with different keys never
share cached answers. Errors are not cached: the next rerun tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import streamlit as st

from swen.api.action_schemas import ActionPage
from swen.api.catalog_schemas import CatalogVersionsOut
from swen.api.schemas import (
    AutomationOut,
    CostAnalysisOut,
    DecisionOut,
    MergeRequestOut,
    MergeRequestReviewOut,
    ServiceOut,
    TelemetryPoint,
)
from swen.config import Settings
from swen.dashboard.client import ApiClient

CACHE_TTL_S = 3.0


@dataclass(frozen=True)
class ApiTarget:
    url: str
    key: str | None
    refresh_s: float
    debug: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiTarget:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return cls(settings.resolved_api_url, key, settings.dashboard_refresh_s, settings.debug)


@st.cache_resource(show_spinner=False)
def client(target: ApiTarget) -> ApiClient:
    return ApiClient(target.url, target.key)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def services(target: ApiTarget) -> list[ServiceOut]:
    return client(target).services()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def latest_telemetry(target: ApiTarget) -> list[TelemetryPoint]:
    return client(target).telemetry_latest()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def cost_analysis(target: ApiTarget, days: int) -> CostAnalysisOut:
    return client(target).cost_analysis(days=days)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def decisions(
    target: ApiTarget, service: str | None, status: str | None, limit: int = 200
) -> tuple[list[DecisionOut], int]:
    page = client(target).decisions(service=service, status=status, limit=limit)
    return list(page.items), page.total


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def merge_requests(target: ApiTarget, state: str | None = None) -> tuple[list[MergeRequestOut], int]:
    page = client(target).merge_requests(state=state)
    return list(page.items), page.total


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def review(target: ApiTarget, mr_id: int) -> MergeRequestReviewOut:
    return client(target).review(mr_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def actions(target: ApiTarget, limit: int = 50) -> ActionPage:
    return client(target).actions(limit=limit)


@st.cache_data(ttl=60.0, show_spinner=False)
def catalog_versions(target: ApiTarget) -> CatalogVersionsOut:
    return client(target).catalog_versions()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def automation(target: ApiTarget) -> AutomationOut:
    return client(target).automation()


@st.cache_data(ttl=300.0, show_spinner=False)
def first_sample_time(target: ApiTarget, start: datetime, end: datetime) -> datetime | None:
    return client(target).first_sample_time(start, end)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def incident(target: ApiTarget, incident_id: int) -> dict[str, Any]:
    return client(target).incident(incident_id)


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def incidents(target: ApiTarget) -> list[dict[str, Any]] | None:
    return client(target).incidents()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def readiness(target: ApiTarget) -> dict[str, Any]:
    return client(target).readiness()


@st.cache_data(ttl=60.0, show_spinner=False)
def can_operate(target: ApiTarget) -> bool:
    return client(target).can_operate()


@st.cache_data(ttl=CACHE_TTL_S, show_spinner=False)
def telemetry_history(
    target: ApiTarget, service: str, provider: str | None, start: datetime, end: datetime
) -> list[TelemetryPoint]:
    return client(target).telemetry_history(service=service, provider=provider, start=start, end=end)


def newest_sample_time(points: Sequence[TelemetryPoint]) -> datetime | None:
    return max((p.ts for p in points), default=None)


def window(end: datetime, hours: float) -> tuple[datetime, datetime]:
    """[end - hours, end + 1 s): the newest sample is inside the half-open range."""
    return end - timedelta(hours=hours), end + timedelta(seconds=1)


def clear() -> None:
    """Forget cached answers (after a write, or on "Refresh now")."""
    st.cache_data.clear()
