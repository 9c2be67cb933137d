"""POST /alerts: Alertmanager webhook intake (payload version 4).

Authenticated by Alertmanager's bearer token (SWEN_ALERT_TOKEN, constant-time compare) or an operator
key. This route validates the payload, stores each alert in the ``alerts`` table (an alert is
identified by fingerprint and start time; a repeat updates its status) and appends one ``alert`` event
per alert, in one transaction. What happens next (incidents, remediation) belongs to self-healing: if
``swen.observability.alerts.intake(store, payload: dict)`` exists, it is called instead of the minimal
storage below and must return an object with ``received``, ``stored`` and ``event_ids``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import UTC
from typing import Any

from fastapi import APIRouter

from swen.api.deps import AlertSenderDep, StoreDep, declares_role
from swen.api.schemas import AlertIn, AlertIntakeOut, AlertmanagerPayload
from swen.domain.clock import utcnow
from swen.domain.errors import InvalidInputError
from swen.domain.events import EventType
from swen.domain.names import validate_location_name, validate_service_name
from swen.store.incidents import IncidentRepository
from swen.store.repository import Store

router = APIRouter(tags=["alerts"])


def _name(value: str | None, check: Callable[[str], str]) -> str | None:
    if value is None:
        return None
    try:
        return check(value)
    except InvalidInputError:
        return None  # kept in the labels, never used as a name


def _alert_row(alert: AlertIn) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "starts_at": alert.startsAt.astimezone(UTC),
        "alertname": alert.labels.get("alertname", "unnamed")[:128],
        "status": alert.status,
        "service": _name(alert.labels.get("service"), validate_service_name),
        "provider": _name(alert.labels.get("provider"), validate_location_name),
        "labels": alert.labels,
    }


def store_alerts(store: Store, payload: AlertmanagerPayload) -> AlertIntakeOut:
    """Minimal intake: upsert the alerts and append one ALERT event each, all in one transaction."""
    now = utcnow()
    repo = IncidentRepository(store)
    event_ids: list[int] = []
    stored = 0
    with store.transaction() as conn:
        for alert in payload.alerts:
            row = _alert_row(alert)
            new = repo.store_alert(**row, at=now, conn=conn)
            stored += int(new)
            event = {
                "alertname": row["alertname"], "status": row["status"], "fingerprint": row["fingerprint"],
                "starts_at": row["starts_at"].isoformat(), "provider": row["provider"],
                "labels": alert.labels, "annotations": alert.annotations, "new": new,
            }  # fmt: skip
            record = store.append_event(EventType.ALERT, event, service=row["service"], conn=conn)
            event_ids.append(record.id)
    return AlertIntakeOut(received=len(payload.alerts), stored=stored, event_ids=event_ids)


def _intake() -> Callable[[Store, AlertmanagerPayload], AlertIntakeOut]:
    try:
        module = importlib.import_module("swen.observability.alerts")
    except ModuleNotFoundError:
        return store_alerts
    intake = getattr(module, "intake", None)
    if intake is None:
        return store_alerts

    def call(store: Store, payload: AlertmanagerPayload) -> AlertIntakeOut:
        result = intake(store, payload.model_dump(mode="json"))
        return AlertIntakeOut(
            received=int(result.received), stored=int(result.stored), event_ids=list(result.event_ids),
            ignored=int(result.ignored), ignored_reasons=dict(result.ignored_reasons),
        )  # fmt: skip

    return call


@router.post(
    "/alerts",
    response_model=AlertIntakeOut,
    status_code=202,
    summary="Alertmanager webhook intake (auth: SWEN_ALERT_TOKEN bearer or role operator)",
    openapi_extra=declares_role("alertmanager-token or operator"),
)
def receive_alerts(store: StoreDep, _sender: AlertSenderDep, payload: AlertmanagerPayload) -> AlertIntakeOut:
    return _intake()(store, payload)
