"""Read models beyond the Store facade: batched decision histories, counts for pagination, savings
totals, a service's recent audit events, and cheap "has anything changed" versions.

All of them only read; every write goes through the Store facade or a layer's repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Table, func, select

from swen.domain.decision import NOT_ENDED_STATUSES, DecisionStatus
from swen.domain.incidents import IncidentStatus
from swen.store import audit
from swen.store.incidents import incident_filters
from swen.store.mrs import mr_filters
from swen.store.records import EventRecord
from swen.store.repository import Store, decision_filters
from swen.store.tables import decisions, events, incidents, merge_requests, telemetry_samples

"""Recommendations still on their way (not verified, not terminal)."""


def decision_histories(store: Store, ids: Sequence[str]) -> dict[str, list[EventRecord]]:
    """Every audit event of each decision in ``ids`` (one query), oldest first."""
    out: dict[str, list[EventRecord]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = select(events).where(events.c.decision_id.in_(list(ids))).order_by(events.c.id)
    with store.reading("reading decision histories") as conn:
        for row in conn.execute(stmt):
            out[row.decision_id].append(audit.record_from_row(row))
    return out


def recent_service_events(store: Store, service: str, *, limit: int) -> list[EventRecord]:
    """The newest ``limit`` audit events about ``service``, oldest first."""
    query = select(events).where(events.c.service == service).order_by(events.c.id.desc()).limit(limit)
    with store.reading("reading a service's events") as conn:
        rows = conn.execute(query).all()
    return [audit.record_from_row(row) for row in reversed(rows)]


def _count(store: Store, table: Table, filters: Sequence[ColumnElement[bool]]) -> int:
    """Rows of ``table`` matching every one of ``filters``."""
    stmt = select(func.count()).select_from(table).where(*filters)
    with store.reading(f"counting {table.name}") as conn:
        return int(conn.execute(stmt).scalar_one())


def count_decisions(
    store: Store, *, service: str | None, status: DecisionStatus | None, since: datetime | None
) -> int:
    """The total of ``Store.list_decisions`` with the same filters."""
    return _count(store, decisions, decision_filters(service=service, status=status, since=since))


def count_incidents(
    store: Store, *, service: str | None, status: IncidentStatus | None, since: datetime | None
) -> int:
    """The total of ``IncidentRepository.list`` with the same filters."""
    return _count(store, incidents, incident_filters(service=service, status=status, since=since))


def count_merge_requests(store: Store, *, service: str | None, state: str | None) -> int:
    """The total of ``MergeRequestRepository.list`` with the same filters."""
    return _count(store, merge_requests, mr_filters(state=state, service=service))


def savings_totals(
    store: Store, statuses: Sequence[DecisionStatus], *, migrations_only: bool
) -> tuple[float, int]:
    """Sum of net monthly savings and count of decisions in ``statuses``."""
    d = decisions.c
    stmt = select(func.coalesce(func.sum(d.net_savings_monthly_usd), 0.0), func.count()).where(
        d.status.in_([s.value for s in statuses])
    )
    if migrations_only:
        stmt = stmt.where(d.action == "migrate")
    with store.reading("summing savings") as conn:
        total, count = conn.execute(stmt).one()
    return float(total), int(count)


def open_recommendations(store: Store) -> dict[str, float]:
    """Net monthly savings of the newest open migration recommendation of each service."""
    d = decisions.c
    stmt = (
        select(d.service, d.net_savings_monthly_usd)
        .where(d.status.in_([s.value for s in sorted(NOT_ENDED_STATUSES)]), d.action == "migrate")
        .order_by(d.created_at.desc(), d.id.desc())
    )
    newest: dict[str, float] = {}
    with store.reading("reading open recommendations") as conn:
        for service, net in conn.execute(stmt):
            newest.setdefault(str(service), float(net))
    return newest


def telemetry_version(store: Store) -> int:
    """Changes whenever a sample is inserted (the newest sample id; O(1) on both backends)."""
    with store.reading("reading the telemetry version") as conn:
        return int(conn.execute(select(func.max(telemetry_samples.c.id))).scalar_one() or 0)


def events_version(store: Store) -> int:
    """Changes whenever anything is written to the audit log (every decision write appends an event)."""
    with store.reading("reading the events version") as conn:
        return int(conn.execute(select(func.max(events.c.id))).scalar_one() or 0)
