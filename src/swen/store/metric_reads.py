"""Aggregates the Prometheus collector reads at scrape time: decision status entries from the audit
log, confidence and pipeline stage histograms, open and escalated incidents per service.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, ColumnElement, Row, Select, case, func, select

from swen.domain.decision import DecisionStatus
from swen.domain.events import EventType
from swen.store.repository import Store
from swen.store.tables import decisions, events, incidents, pipeline_stages


@dataclass(frozen=True, slots=True)
class BucketCounts:
    """A cumulative histogram: how many values are <= each bound, how many in all, and their sum."""

    cumulative: tuple[int, ...]
    count: int
    total: float


def _bucket_columns(values: Column[Any], bounds: Sequence[float]) -> list[Any]:
    cols: list[Any] = [func.sum(case((values <= b, 1), else_=0)) for b in bounds]
    return [*cols, func.count(), func.coalesce(func.sum(values), 0.0)]


def _bucket_counts(row: Sequence[Any], bounds: Sequence[float]) -> BucketCounts:
    n = len(bounds)
    return BucketCounts(
        cumulative=tuple(int(v or 0) for v in row[:n]),
        count=int(row[n] or 0),
        total=float(row[n + 1] or 0.0),
    )


def _like_value(key: str, value: str) -> str:
    """A LIKE pattern for ``"key":"value"`` in canonical (compact, sorted) event JSON."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f'%"{key}":"{escaped}"%'


def _status_entries() -> Select[Any]:
    """How many times a decision entered each status: the status a DECISION event stored it with, plus
    the ``to`` of every DECISION_STATUS event. The audit log is append-only, so the counts only grow."""
    e = events.c
    cols = []
    for status in DecisionStatus:
        saved = (e.type == EventType.DECISION.value) & e.payload.like(
            _like_value("status", status), escape="\\"
        )
        moved = (e.type == EventType.DECISION_STATUS.value) & e.payload.like(
            _like_value("to", status), escape="\\"
        )
        cols.append(func.coalesce(func.sum(case((saved | moved, 1), else_=0)), 0))
    kinds = [EventType.DECISION.value, EventType.DECISION_STATUS.value]
    return select(*cols).where(e.type.in_(kinds))


def decision_status_entries(store: Store) -> dict[DecisionStatus, int]:
    """How many times decisions entered each status (never decreases; see ``_status_entries``)."""
    with store.reading("counting decision statuses") as conn:
        counts = conn.execute(_status_entries()).one()
    return {status: int(count or 0) for status, count in zip(DecisionStatus, counts, strict=True)}


def confidence_buckets(store: Store, bounds: Sequence[float]) -> BucketCounts:
    """The confidence of every stored decision, bucketed at ``bounds``."""
    stmt = select(*_bucket_columns(decisions.c.confidence, bounds))
    with store.reading("reading decision confidences") as conn:
        return _bucket_counts(conn.execute(stmt).one(), bounds)


def stage_duration_buckets(store: Store, bounds: Sequence[float]) -> dict[str, BucketCounts]:
    """Per pipeline stage name, the durations of its finished runs bucketed at ``bounds``."""
    st = pipeline_stages.c
    stmt = (
        select(st.name, *_bucket_columns(st.duration_s, bounds))
        .where(st.duration_s.is_not(None))
        .group_by(st.name)
    )
    with store.reading("reading pipeline stage durations") as conn:
        rows: Sequence[Row[Any]] = conn.execute(stmt).all()
    return {str(row[0]): _bucket_counts(row[1:], bounds) for row in rows}


def incidents_per_service(store: Store, statuses: Collection[str]) -> dict[str, int]:
    """How many incidents each service has in one of ``statuses`` (services with none are left out)."""
    i = incidents.c
    stmt = select(i.service, func.count()).where(i.status.in_(list(statuses))).group_by(i.service)
    with store.reading("counting incidents") as conn:
        return {str(service): int(count) for service, count in conn.execute(stmt).all()}


def services_with_unresolved(store: Store, status: str) -> set[str]:
    """Services with an incident in ``status`` that has not been resolved."""
    i = incidents.c
    where: ColumnElement[bool] = (i.status == status) & i.resolved_at.is_(None)
    with store.reading("reading escalated incidents") as conn:
        return {str(service) for (service,) in conn.execute(select(i.service).where(where).distinct())}
