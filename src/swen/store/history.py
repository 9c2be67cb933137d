"""Telemetry read models for the API and dashboard: downsampled history, one page of the newest
samples, and per-provider credit and spend series. Read-only; every write goes through the Store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, Row, Select, and_, cast, func, select, true, tuple_

from swen.domain.models import HOURS_PER_MONTH, Placement
from swen.store.repository import Store
from swen.store.tables import telemetry_latest, telemetry_samples

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
    def instance_monthly_cost_usd(self) -> float:
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


def _bucket_start(start: datetime, bucket: Any, step_s: int) -> datetime:
    return datetime.fromtimestamp(start.timestamp() + int(bucket) * step_s, UTC)


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


def _point(row: Row[Any], ts: datetime, samples: int) -> HistoryPoint:
    """A HistoryPoint from a row carrying the sample columns (averaged or not)."""
    return HistoryPoint(
        service=row.service,
        provider=row.provider,
        region=row.region,
        ts=ts,
        samples=samples,
        instance_type=row.instance_type,
        hourly_cost_usd=float(row.hourly_cost_usd),
        latency_ms=float(row.latency_ms),
        credits_usd=float(row.credits_usd),
        gpu_availability=float(row.gpu_availability),
        availability=float(row.availability),
        error_rate=float(row.error_rate),
        simulated_price=bool(row.simulated_price),
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
    with store.reading("reading telemetry history") as conn:
        rows = conn.execute(page).all()
        total = int(conn.execute(total_stmt).scalar_one())
    points = [_point(r, _bucket_start(start, r.bucket, step_s), int(r.n)) for r in rows]
    return points, total


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
    total_stmt = select(func.count()).select_from(telemetry_latest).where(where)
    with store.reading("reading the latest samples") as conn:
        rows = conn.execute(page).all()
        total = int(conn.execute(total_stmt).scalar_one())
    return [_point(r, r.ts, 1) for r in rows], total


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
    with store.reading("reading credit balances") as conn:
        rows = conn.execute(stmt).all()
    out: dict[str, list[tuple[datetime, float]]] = {}
    for provider, b, credits in rows:
        out.setdefault(str(provider), []).append((_bucket_start(start, b, step_s), float(credits)))
    return out


def spend_by_provider(
    store: Store,
    *,
    start: datetime,
    end: datetime,
    step_s: int,
    running: Mapping[str, tuple[Placement, int]],
) -> dict[str, list[tuple[datetime, float]]]:
    """Monthly spend rate per provider and bucket: for each service where it runs (``running``:
    service -> (placement, replicas), from ``swen.moves.running``), the mean hourly price in the bucket
    x 730 x replicas, summed over the services (one grouped query per ``SPEND_SERVICES_PER_QUERY``)."""
    places = [(name, p.provider, p.region) for name, (p, _replicas) in running.items()]
    bucket = _bucket(store, start, step_s).label("bucket")
    totals: dict[tuple[str, int], float] = {}
    with store.reading("reading spend per provider") as conn:
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
                monthly = float(hourly) * HOURS_PER_MONTH * running[service][1]
                totals[key] = totals.get(key, 0.0) + monthly
    out: dict[str, list[tuple[datetime, float]]] = {}
    for (provider, b), usd in sorted(totals.items()):
        out.setdefault(provider, []).append((_bucket_start(start, b, step_s), usd))
    return out
