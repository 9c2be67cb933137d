"""Incidents and the alerts attached to them (plain data): what went wrong where, and how it ended.

Kept by ``swen.store.incidents``; opened by the alert intake and the engine's detector; driven by
``swen.healing``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class IncidentStatus(StrEnum):
    OPEN = "open"
    REMEDIATING = "remediating"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


ACTIVE_STATUSES: tuple[IncidentStatus, ...] = (
    IncidentStatus.OPEN,
    IncidentStatus.REMEDIATING,
    IncidentStatus.ESCALATED,
)


class IncidentSource(StrEnum):
    ENGINE = "engine"
    ALERTMANAGER = "alertmanager"


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: int
    service: str
    provider: str
    region: str | None
    kind: str
    source: str
    status: IncidentStatus
    opened_at: datetime
    resolved_at: datetime | None
    time_to_recovery_s: float | None
    decision_id: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "provider": self.provider,
            "region": self.region,
            "kind": self.kind,
            "source": self.source,
            "status": self.status.value,
            "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "time_to_recovery_s": self.time_to_recovery_s,
            "decision_id": self.decision_id,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: int
    fingerprint: str
    starts_at: datetime
    alertname: str
    status: str  # firing | resolved
    service: str | None
    provider: str | None
    incident_id: int | None
    labels: dict[str, str]
    received_at: datetime
    updated_at: datetime
