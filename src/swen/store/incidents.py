"""Incidents and the alerts attached to them.

An incident is one problem of one (service, provider): an outage, a latency or cost spike, a GPU
shortage. It is opened by Alertmanager (``source="alertmanager"``, via alert intake) or by the engine's
own anomaly detector (``source="engine"``). There is at most ONE active incident per (service,
provider): opening another one returns the active one, so repeated notifications and several alerts
about the same pair share it.

Lifecycle (``incidents.status``)::

    open --start_remediation--> remediating --resolve--> resolved
      |                              |
      +---------- escalate ----------+--> escalated --resolve (by a person)--> resolved
      +---------- resolve -----------------------------------------------> resolved

``open``, ``remediating`` and ``escalated`` are active. Every change appends an ``incident`` event in
the same transaction as the row (pass ``conn`` from ``Store.transaction()`` to group several changes).
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, insert, select, update

from swen.domain.clock import utcnow
from swen.domain.errors import ConflictError, NotFoundError
from swen.domain.events import EventType
from swen.domain.incidents import (
    ACTIVE_STATUSES,
    AlertRecord,
    IncidentRecord,
    IncidentSource,
    IncidentStatus,
)
from swen.domain.names import validate_location_name, validate_service_name
from swen.store.paging import check_page
from swen.store.records import from_row
from swen.store.repository import Store
from swen.store.tables import alerts, incidents


def _incident(row: Row[Any]) -> IncidentRecord:
    status, details = IncidentStatus(row.status), dict(row.details or {})
    return from_row(IncidentRecord, row, id=int(row.id), status=status, details=details)


def _alert(row: Row[Any]) -> AlertRecord:
    return from_row(AlertRecord, row, id=int(row.id), labels=dict(row.labels or {}))


def incident_filters(
    *,
    service: str | None,
    status: IncidentStatus | Collection[IncidentStatus] | None,
    since: datetime | None,
) -> list[ColumnElement[bool]]:
    """Which incidents a page holds (None: any), for the page and for its total alike."""
    filters: list[ColumnElement[bool]] = []
    if service is not None:
        filters.append(incidents.c.service == service)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        filters.append(incidents.c.status.in_([IncidentStatus(s).value for s in wanted]))
    if since is not None:
        filters.append(incidents.c.opened_at >= since)
    return filters


class IncidentRepository:
    """Incidents and alerts on top of a :class:`Store` (same database, same audit log)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- transactions ----------------------------------------------------------------------------

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.store.transaction() as own:
            yield own

    @contextmanager
    def _reading(self, what: str, conn: Connection | None = None) -> Iterator[Connection]:
        """``conn`` when the caller is inside a transaction, else a fresh read-only connection."""
        if conn is not None:
            yield conn
            return
        with self.store.reading(what) as own:
            yield own

    def _event(
        self, conn: Connection, type_: EventType, payload: dict[str, Any], service: str | None
    ) -> None:
        self.store.append_event(type_, payload, service=service, conn=conn)

    def _change(
        self, tx: Connection, current: IncidentRecord, values: Mapping[str, Any], event: dict[str, Any]
    ) -> IncidentRecord:
        """Write ``values`` to the incident's row and append its ``incident`` event (``event`` holds
        the action and what goes with it); the incident as it is now."""
        tx.execute(update(incidents).where(incidents.c.id == current.id).values(**values))
        self._event(tx, EventType.INCIDENT, event, current.service)
        return self.get(current.id, conn=tx)

    # --- incidents: reads ------------------------------------------------------------------------

    def get(self, incident_id: int, *, conn: Connection | None = None) -> IncidentRecord:
        query = select(incidents).where(incidents.c.id == incident_id)
        with self._reading("reading an incident", conn) as reading:
            row = reading.execute(query).first()
        if row is None:
            raise NotFoundError(
                f"no incident with id {incident_id}", hint="list incidents with `swen incident list`"
            )
        return _incident(row)

    def list(
        self,
        *,
        service: str | None = None,
        status: IncidentStatus | Collection[IncidentStatus] | None = None,
        since: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[IncidentRecord]:
        """Incidents, newest first."""
        check_page(limit, offset)
        query = (
            select(incidents)
            .where(*incident_filters(service=service, status=status, since=since))
            .order_by(incidents.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        with self._reading("listing incidents") as conn:
            return [_incident(row) for row in conn.execute(query).all()]

    def find_active(
        self, service: str, provider: str | None = None, *, conn: Connection | None = None
    ) -> IncidentRecord | None:
        """The active incident of (service, provider); with ``provider=None`` the newest of the service."""
        query = select(incidents).where(
            incidents.c.service == service, incidents.c.status.in_([s.value for s in ACTIVE_STATUSES])
        )
        if provider is not None:
            query = query.where(incidents.c.provider == provider)
        query = query.order_by(incidents.c.id.desc()).limit(1)
        with self._reading("finding an incident", conn) as reading:
            row = reading.execute(query).first()
        return None if row is None else _incident(row)

    def alerts_of(self, incident_id: int, *, conn: Connection | None = None) -> builtins.list[AlertRecord]:
        query = select(alerts).where(alerts.c.incident_id == incident_id).order_by(alerts.c.id)
        with self._reading("reading alerts", conn) as reading:
            return [_alert(row) for row in reading.execute(query).all()]

    def list_alerts(self, *, status: str | None = None, limit: int = 100) -> builtins.list[AlertRecord]:
        check_page(limit)
        query = select(alerts)
        if status is not None:
            query = query.where(alerts.c.status == status)
        with self._reading("listing alerts") as conn:
            return [
                _alert(row) for row in conn.execute(query.order_by(alerts.c.id.desc()).limit(limit)).all()
            ]

    # --- incidents: writes -----------------------------------------------------------------------

    def open_incident(
        self,
        *,
        service: str,
        provider: str,
        region: str | None,
        kind: str,
        source: IncidentSource | str,
        at: datetime | None = None,
        details: Mapping[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> tuple[IncidentRecord, bool]:
        """The active incident of (service, provider), opened now if there is none. -> (incident, created)."""
        validate_service_name(service)
        validate_location_name(provider, "provider")
        if region is not None:
            validate_location_name(region, "region")
        source = IncidentSource(source)
        at = at or utcnow()
        with self._tx(conn) as tx:
            existing = self.find_active(service, provider, conn=tx)
            if existing is not None:
                return existing, False
            values = {
                "service": service,
                "provider": provider,
                "region": region,
                "kind": kind,
                "source": source.value,
                "status": IncidentStatus.OPEN.value,
                "opened_at": at,
                "details": dict(details or {}),
            }
            new_id = int(
                tx.execute(insert(incidents).values(**values).returning(incidents.c.id)).scalar_one()
            )
            self._event(
                tx,
                EventType.INCIDENT,
                {"action": "opened", "incident_id": new_id, "provider": provider, "region": region,
                 "kind": kind, "source": source.value},
                service,
            )  # fmt: skip
            return self.get(new_id, conn=tx), True

    def update_details(
        self, incident_id: int, changes: Mapping[str, Any], *, conn: Connection | None = None
    ) -> IncidentRecord:
        """Merge ``changes`` into the incident's details (no event: callers record what it means)."""
        with self._tx(conn) as tx:
            current = self.get(incident_id, conn=tx)
            details = {**current.details, **changes}
            tx.execute(update(incidents).where(incidents.c.id == incident_id).values(details=details))
            return self.get(incident_id, conn=tx)

    def set_kind(
        self, incident_id: int, kind: str, *, because: str, conn: Connection | None = None
    ) -> IncidentRecord:
        """Change the incident's kind (e.g. to ``outage`` when an outage signal joins a latency
        incident) and record why in a ``kind_changed`` event; unchanged when it already is ``kind``."""
        with self._tx(conn) as tx:
            current = self.get(incident_id, conn=tx)
            if current.kind == kind:
                return current
            return self._change(
                tx,
                current,
                {"kind": kind},
                {"action": "kind_changed", "incident_id": incident_id, "from": current.kind, "to": kind,
                 "because": because},
            )  # fmt: skip

    def start_remediation(
        self, incident_id: int, decision_id: str, *, conn: Connection | None = None
    ) -> IncidentRecord:
        """Mark the incident ``remediating`` by ``decision_id`` (the emergency decision)."""
        with self._tx(conn) as tx:
            current = self.get(incident_id, conn=tx)
            if current.status not in (IncidentStatus.OPEN, IncidentStatus.REMEDIATING):
                raise ConflictError(
                    f"incident {incident_id} is {current.status.value}; only an open one can be remediated",
                    hint="escalated incidents wait for a person; resolved ones are closed",
                )
            return self._change(
                tx,
                current,
                {"status": IncidentStatus.REMEDIATING.value, "decision_id": decision_id},
                {"action": "remediating", "incident_id": incident_id, "decision_id": decision_id},
            )

    def resolve(
        self,
        incident_id: int,
        at: datetime | None = None,
        ttr: float | None = None,
        *,
        reason: str = "",
        conn: Connection | None = None,
    ) -> IncidentRecord:
        """Close the incident; ``ttr`` (s) defaults to ``at - opened_at``. Resolving twice is a no-op."""
        at = at or utcnow()
        with self._tx(conn) as tx:
            current = self.get(incident_id, conn=tx)
            if current.status is IncidentStatus.RESOLVED:
                return current
            ttr = ttr if ttr is not None else max(0.0, (at - current.opened_at).total_seconds())
            return self._change(
                tx,
                current,
                {"status": IncidentStatus.RESOLVED.value, "resolved_at": at, "time_to_recovery_s": ttr},
                {
                    "action": "resolved",
                    "incident_id": incident_id,
                    "time_to_recovery_s": ttr,
                    "reason": reason,
                    "decision_id": current.decision_id,
                },
            )

    def escalate(
        self, incident_id: int, reason: str, *, at: datetime | None = None, conn: Connection | None = None
    ) -> IncidentRecord:
        """Hand the incident to a person (loop guard tripped); automation stops for it."""
        at = at or utcnow()
        with self._tx(conn) as tx:
            current = self.get(incident_id, conn=tx)
            if current.status is IncidentStatus.RESOLVED:
                raise ConflictError(f"incident {incident_id} is already resolved; nothing to escalate")
            if current.status is IncidentStatus.ESCALATED:
                return current
            details = {**current.details, "escalated_at": at.isoformat(), "escalation_reason": reason}
            return self._change(
                tx,
                current,
                {"status": IncidentStatus.ESCALATED.value, "details": details},
                {"action": "escalated", "incident_id": incident_id, "reason": reason},
            )

    # --- alerts ----------------------------------------------------------------------------------

    def find_alert(self, fingerprint: str, starts_at: datetime, *, conn: Connection) -> AlertRecord | None:
        row = conn.execute(
            select(alerts).where(alerts.c.fingerprint == fingerprint, alerts.c.starts_at == starts_at)
        ).first()
        return None if row is None else _alert(row)

    def attach_alert(
        self,
        *,
        fingerprint: str,
        starts_at: datetime,
        alertname: str,
        status: str,
        labels: Mapping[str, str],
        incident_id: int | None,
        at: datetime | None = None,
        conn: Connection | None = None,
    ) -> AlertRecord:
        """Record a new alert (unique by fingerprint and start) attached to ``incident_id`` (or none)."""
        at = at or utcnow()
        with self._tx(conn) as tx:
            values = {
                "fingerprint": fingerprint,
                "starts_at": starts_at,
                "alertname": alertname,
                "status": status,
                "service": labels.get("service"),
                "provider": labels.get("provider"),
                "incident_id": incident_id,
                "labels": dict(labels),
                "received_at": at,
                "updated_at": at,
            }
            tx.execute(insert(alerts).values(**values))
            found = self.find_alert(fingerprint, starts_at, conn=tx)
            assert found is not None  # inserted just above, same transaction
            return found

    def store_alert(
        self,
        *,
        fingerprint: str,
        starts_at: datetime,
        alertname: str,
        status: str,
        service: str | None,
        provider: str | None,
        labels: Mapping[str, str],
        at: datetime,
        conn: Connection,
    ) -> bool:
        """Record an alert attached to no incident, or set the status of the one already stored with
        the same fingerprint and start (the minimal intake without self-healing). True when new."""
        same = (alerts.c.fingerprint == fingerprint) & (alerts.c.starts_at == starts_at)
        if conn.execute(select(alerts.c.id).where(same)).first() is not None:
            conn.execute(update(alerts).where(same).values(status=status, updated_at=at))
            return False
        values = {
            "fingerprint": fingerprint,
            "starts_at": starts_at,
            "alertname": alertname,
            "status": status,
            "service": service,
            "provider": provider,
            "labels": dict(labels),
            "received_at": at,
            "updated_at": at,
        }
        conn.execute(insert(alerts).values(**values))
        return True

    def mark_alert_resolved(self, alert_id: int, *, at: datetime | None = None, conn: Connection) -> None:
        conn.execute(
            update(alerts).where(alerts.c.id == alert_id).values(status="resolved", updated_at=at or utcnow())
        )
