"""Read queries the API needs beyond the Store facade: downsampled telemetry history, batched
decision histories, counts for pagination and cheap "has anything changed" versions.

All of them only read; every write goes through the Store facade or a layer's repository.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, Table, and_, cast, func, select, true, tuple_

from swen.domain.decision import TERMINAL_STATUSES, DecisionStatus
from swen.domain.models import HOURS_PER_MONTH
from swen.moves.running import RunningService, service_monthly_cost
from swen.store import audit
from swen.store.incidents import IncidentStatus
from swen.store.records import EventRecord
from swen.store.repository import Store
from swen.store.tables import (
    decisions,
    events,
    incidents,
    merge_requests,
    telemetry_latest,
    telemetry_samples,
)

_T = telemetry_samples.c
SPEND_SERVICES_PER_QUERY = 5000
"""Services per spend query (3 bound values each: within SQLite's and PostgreSQL's limits)."""


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    service: str
    provider: str
    region: str
    ts: datetime
    samples: int
    instance_type: str | None
    hourly_cost_usd: float
    latency_ms: float
    credits_usd: float
    gpu_availability: float
    availability: float
    error_rate: float
    simulated_price: bool

    @property
    def monthly_cost_usd(self) -> float:
        return self.hourly_cost_usd * HOURS_PER_MONTH


def _epoch(store: Store, column: Any) -> ColumnElement[Any]:
    """Seconds since 1970 of a timestamp column, on SQLite and PostgreSQL."""
    if store.engine.dialect.name == "postgresql":
        return func.extract("epoch", column)
    # julianday is a double: round to milliseconds so that 01:00:00 is not 00:59:59.99999
    return func.round((func.julianday(column) - 2440587.5) * 86400.0, 3)


def _bucket(store: Store, start: datetime, step_s: int) -> ColumnElement[Any]:
    """Index of the ``step_s``-wide bucket (counted from ``start``) a sample falls in."""
    offset = _epoch(store, _T.ts) - start.timestamp()
    if store.engine.dialect.name == "postgresql":
        return cast(func.floor(offset / step_s), Integer)
    return cast(offset / step_s, Integer)  # offset >= 0, so truncation is floor


def _range_filter(
    start: datetime, end: datetime, service: str | None, provider: str | None
) -> ColumnElement[bool]:
    conds = [_T.ts >= start, _T.ts < end]
    if service is not None:
        conds.append(_T.service == service)
    if provider is not None:
        conds.append(_T.provider == provider)
    return and_(*conds)


def _history_select(
    store: Store, start: datetime, end: datetime, step_s: int, service: str | None, provider: str | None
) -> Select[Any]:
    bucket = _bucket(store, start, step_s).label("bucket")
    return (
        select(
            _T.service,
            _T.provider,
            _T.region,
            bucket,
            func.count().label("n"),
            func.max(_T.instance_type).label("instance_type"),
            func.avg(_T.hourly_cost_usd).label("hourly_cost_usd"),
            func.avg(_T.latency_ms).label("latency_ms"),
            func.avg(_T.credits_usd).label("credits_usd"),
            func.avg(_T.gpu_availability).label("gpu_availability"),
            func.avg(_T.availability).label("availability"),
            func.avg(_T.error_rate).label("error_rate"),
            func.max(cast(_T.simulated_price, Integer)).label("simulated_price"),
        )
        .where(_range_filter(start, end, service, provider))
        .group_by(_T.service, _T.provider, _T.region, bucket)
    )


def telemetry_history(
    store: Store,
    *,
    start: datetime,
    end: datetime,
    step_s: int,
    service: str | None = None,
    provider: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[HistoryPoint], int]:
    """Averages per (service, provider, region, bucket) in ``[start, end)``, paginated; and the total."""
    base = _history_select(store, start, end, step_s, service, provider)
    page = base.order_by(_T.service, _T.provider, _T.region, "bucket").limit(limit).offset(offset)
    total_stmt = select(func.count()).select_from(base.subquery())
    with store.engine.connect() as conn:
        rows = conn.execute(page).all()
        total = int(conn.execute(total_stmt).scalar_one())
    origin = start.timestamp()
    points = [
        HistoryPoint(
            service=r.service,
            provider=r.provider,
            region=r.region,
            ts=datetime.fromtimestamp(origin + int(r.bucket) * step_s, UTC),
            samples=int(r.n),
            instance_type=r.instance_type,
            hourly_cost_usd=float(r.hourly_cost_usd),
            latency_ms=float(r.latency_ms),
            credits_usd=float(r.credits_usd),
            gpu_availability=float(r.gpu_availability),
            availability=float(r.availability),
            error_rate=float(r.error_rate),
            simulated_price=bool(r.simulated_price),
        )
        for r in rows
    ]
    return points, total


def credits_by_provider(
    store: Store, *, start: datetime, end: datetime, step_s: int
) -> dict[str, list[tuple[datetime, float]]]:
    """Credit balance per provider over time: per bucket, the mean over the services' latest values.

    Every sample carries the unused credit balance usable on its provider; the mean over the
    services reporting in a bucket is that provider's balance in the bucket.
    """
    bucket = _bucket(store, start, step_s).label("bucket")
    stmt = (
        select(_T.provider, bucket, func.avg(_T.credits_usd))
        .where(_range_filter(start, end, None, None))
        .group_by(_T.provider, bucket)
        .order_by(_T.provider, bucket)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    origin = start.timestamp()
    out: dict[str, list[tuple[datetime, float]]] = {}
    for provider, b, credits in rows:
        out.setdefault(str(provider), []).append(
            (datetime.fromtimestamp(origin + int(b) * step_s, UTC), float(credits))
        )
    return out


def decision_histories(store: Store, ids: Sequence[str]) -> dict[str, list[EventRecord]]:
    """Every audit event of each decision in ``ids`` (one query), oldest first."""
    out: dict[str, list[EventRecord]] = {i: [] for i in ids}
    if not ids:
        return out
    stmt = select(events).where(events.c.decision_id.in_(list(ids))).order_by(events.c.id)
    with store.engine.connect() as conn:
        for row in conn.execute(stmt):
            out[row.decision_id].append(audit.record_from_row(row))
    return out


def _count(store: Store, table: Table, *where: ColumnElement[bool] | None) -> int:
    """Rows of ``table`` matching every condition in ``where`` (None: no condition)."""
    stmt = select(func.count()).select_from(table).where(*(w for w in where if w is not None))
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def count_decisions(
    store: Store, *, service: str | None, status: DecisionStatus | None, since: datetime | None
) -> int:
    d = decisions.c
    return _count(
        store,
        decisions,
        d.service == service if service is not None else None,
        d.status == status.value if status is not None else None,
        d.created_at >= since if since is not None else None,
    )


def count_incidents(
    store: Store, *, service: str | None, status: IncidentStatus | None, since: datetime | None
) -> int:
    i = incidents.c
    return _count(
        store,
        incidents,
        i.opened_at >= since if since is not None else None,
        i.service == service if service is not None else None,
        i.status == status.value if status is not None else None,
    )


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
    with store.engine.connect() as conn:
        total, count = conn.execute(stmt).one()
    return float(total), int(count)


def telemetry_version(store: Store) -> int:
    """Changes whenever a sample is inserted (the newest sample id; O(1) on both backends)."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.max(_T.id))).scalar_one() or 0)


def events_version(store: Store) -> int:
    """Changes whenever anything is written to the audit log (every decision write appends an event)."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.max(events.c.id))).scalar_one() or 0)


OPEN_STATUSES = tuple(s for s in DecisionStatus if s not in TERMINAL_STATUSES)
"""Recommendations still on their way (not verified, not terminal)."""


def open_recommendations(store: Store) -> dict[str, float]:
    """Net monthly savings of the newest open migration recommendation of each service."""
    d = decisions.c
    stmt = (
        select(d.service, d.net_savings_monthly_usd)
        .where(d.status.in_([s.value for s in OPEN_STATUSES]), d.action == "migrate")
        .order_by(d.created_at.desc(), d.id.desc())
    )
    newest: dict[str, float] = {}
    with store.engine.connect() as conn:
        for service, net in conn.execute(stmt):
            newest.setdefault(str(service), float(net))
    return newest


def count_merge_requests(store: Store, *, service: str | None, state: str | None) -> int:
    mr = merge_requests.c
    return _count(
        store,
        merge_requests,
        mr.service == service if service is not None else None,
        mr.state == state if state is not None else None,
    )


def latest_page(
    store: Store, *, service: str | None, provider: str | None, limit: int, offset: int
) -> tuple[list[HistoryPoint], int]:
    """One page of the newest sample per (service, provider, region) (``telemetry_latest``), and the total.

    Reads only the page from the database (the store's ``latest_samples`` returns every row).
    """
    t = telemetry_latest.c
    conds = []
    if service is not None:
        conds.append(t.service == service)
    if provider is not None:
        conds.append(t.provider == provider)
    where = and_(*conds) if conds else true()
    page = (
        select(telemetry_latest)
        .where(where)
        .order_by(t.service, t.provider, t.region)
        .limit(limit)
        .offset(offset)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(page).all()
        total = int(
            conn.execute(select(func.count()).select_from(telemetry_latest).where(where)).scalar_one()
        )
    points = [
        HistoryPoint(
            service=r.service, provider=r.provider, region=r.region, ts=r.ts, samples=1,
            instance_type=r.instance_type, hourly_cost_usd=float(r.hourly_cost_usd),
            latency_ms=float(r.latency_ms), credits_usd=float(r.credits_usd),
            gpu_availability=float(r.gpu_availability), availability=float(r.availability),
            error_rate=float(r.error_rate), simulated_price=bool(r.simulated_price),
        )
        for r in rows
    ]  # fmt: skip
    return points, total


def spend_by_provider(
    store: Store, *, start: datetime, end: datetime, step_s: int, running: Mapping[str, RunningService]
) -> dict[str, list[tuple[datetime, float]]]:
    """Monthly spend rate per provider and bucket: for each service where it runs (``running``, from
    ``swen.moves.running``), the mean hourly price in the bucket x 730 x replicas, summed over the
    services (one grouped query per ``SPEND_SERVICES_PER_QUERY`` services)."""
    places = [(r.service, r.placement.provider, r.placement.region) for r in running.values()]
    bucket = _bucket(store, start, step_s).label("bucket")
    totals: dict[tuple[str, int], float] = {}
    with store.engine.connect() as conn:
        for i in range(0, len(places), SPEND_SERVICES_PER_QUERY):
            stmt = (
                select(_T.service, _T.provider, bucket, func.avg(_T.hourly_cost_usd))
                .where(
                    _range_filter(start, end, None, None),
                    tuple_(_T.service, _T.provider, _T.region).in_(places[i : i + SPEND_SERVICES_PER_QUERY]),
                )
                .group_by(_T.service, _T.provider, bucket)
            )
            for service, provider, b, hourly in conn.execute(stmt):
                key = (str(provider), int(b))
                monthly = service_monthly_cost(float(hourly) * HOURS_PER_MONTH, running[service].replicas)
                totals[key] = totals.get(key, 0.0) + monthly
    origin = start.timestamp()
    out: dict[str, list[tuple[datetime, float]]] = {}
    for (provider, b), usd in sorted(totals.items()):
        out.setdefault(provider, []).append((datetime.fromtimestamp(origin + b * step_s, UTC), usd))
    return out
