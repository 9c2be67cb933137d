"""GET /incidents and GET /incidents/{incident_id}: incidents and their post-incident reports.

The report (``swen.healing.report``) is plain data: the timeline from fault to verified recovery, the
alerts and anomalies, the decision with its ranking, what the policy gate did, the time to recovery,
the cost impact of the move and which detector (the engine's or Prometheus') saw the fault first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from swen.api.deps import StoreDep, ViewerDep, declares_role
from swen.api.routers.telemetry import OffsetQuery, ServiceQuery
from swen.api.schemas import QueryDateTime, next_offset
from swen.domain.incidents import IncidentRecord, IncidentStatus
from swen.domain.keys import Role
from swen.healing.report import incident_report
from swen.store.incidents import IncidentRepository
from swen.store.reads import count_incidents

router = APIRouter(tags=["incidents"])

IncidentIdPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="Incident id.")]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class IncidentOut(_Out):
    id: int
    service: str
    provider: str
    region: str | None
    kind: str = Field(description="outage | latency | cost | gpu | remediation | platform | ...")
    source: str = Field(description="engine (own anomaly detector) or alertmanager")
    status: IncidentStatus
    opened_at: datetime
    resolved_at: datetime | None
    time_to_recovery_s: float | None
    decision_id: str | None
    details: dict[str, Any]


class IncidentPage(_Out):
    limit: int
    offset: int
    total: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")
    items: list[IncidentOut]


class CostImpactOut(_Out):
    """The move's cost impact: one number (``monthly_impact_usd``) and the parts it is the sum of."""

    monthly_impact_usd: float = Field(
        description="Net change of the monthly bill (USD; positive = costs more): list_price_change_usd - "
        "credits_offset_usd + migration_amortised_usd, the engine's net savings with the sign turned."
    )
    list_price_before_usd: float = Field(description="Monthly list price where it ran (x replicas).")
    list_price_after_usd: float = Field(description="Monthly list price where it moved (x replicas).")
    list_price_change_usd: float = Field(description="after - before.")
    list_price_change_pct: float = Field(description="(after - before) / before x 100 (the gate's delta).")
    credits_offset_usd: float = Field(description="Credits usable per month at the target minus the source.")
    migration_cost_usd: float = Field(description="One-time migration cost (data egress).")
    amortisation_months: float = Field(description="Months the migration cost is spread over.")
    migration_amortised_usd: float = Field(description="migration_cost_usd / amortisation_months.")
    definition: str


class IncidentReportOut(_Out):
    """The post-incident report (see ``swen.healing.report`` for every part)."""

    incident: IncidentOut
    summary: str
    milestones: dict[str, str | None] = Field(
        description="fault, detected, mr_opened, applied, verified, resolved (ISO 8601 or null)"
    )
    timeline: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    anomaly: dict[str, Any] | None
    anomalies: dict[str, Any]
    decision: dict[str, Any] | None = Field(description="The decision that ended it, with its ranking.")
    attempts: list[dict[str, Any]]
    policy: dict[str, Any] | None = Field(description="Outcome, reasons and override of the policy gate.")
    time_to_recovery_s: float | None
    cost_impact: CostImpactOut | None = Field(description="The move's cost impact, one number and its parts.")
    first_detector: dict[str, Any] = Field(
        description="engine or alertmanager, with both times and the lead."
    )
    escalation: dict[str, Any] | None
    quarantine: dict[str, Any] | None


def incident_out(incident: IncidentRecord) -> IncidentOut:
    return IncidentOut.model_validate(incident.to_dict())


@router.get(
    "/incidents",
    response_model=IncidentPage,
    summary="Incidents, newest first (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def list_incidents(
    store: StoreDep,
    _key: ViewerDep,
    service: ServiceQuery = None,
    status: Annotated[IncidentStatus | None, Query(description="Only incidents in this status.")] = None,
    since: Annotated[QueryDateTime | None, Query(description="Opened at or after (RFC 3339).")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: OffsetQuery = 0,
) -> IncidentPage:
    items = IncidentRepository(store).list(
        service=service, status=status, since=since, limit=limit, offset=offset
    )
    total = count_incidents(store, service=service, status=status, since=since)
    return IncidentPage(
        limit=limit,
        offset=offset,
        total=total,
        next_offset=next_offset(offset, limit, total),
        items=[incident_out(i) for i in items],
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentReportOut,
    summary="The post-incident report of one incident (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def get_incident(store: StoreDep, _key: ViewerDep, incident_id: IncidentIdPath) -> IncidentReportOut:
    return IncidentReportOut.model_validate(incident_report(store, incident_id))
