"""GET /telemetry: the latest sample per (service, provider, region), or downsampled history."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request, Response

from swen.api.cache import ResponseCache
from swen.api.deps import StoreDep, ViewerDep, declares_role
from swen.api.schemas import QueryDateTime, TelemetryPage, TelemetryPoint, next_offset
from swen.domain.clock import utcnow
from swen.domain.keys import Role
from swen.domain.models import TelemetrySample
from swen.domain.names import LOCATION_NAME_PATTERN, SERVICE_NAME_PATTERN
from swen.store.history import HistoryPoint, latest_page, telemetry_history
from swen.store.repository import Store
from swen.store.versions import VersionProbe

router = APIRouter(tags=["telemetry"])

DEFAULT_RANGE = timedelta(hours=24)
TARGET_POINTS_PER_SERIES = 300
MAX_LIMIT = 1000

ServiceQuery = Annotated[str | None, Query(pattern=SERVICE_NAME_PATTERN, description="Only this service.")]
ProviderQuery = Annotated[str | None, Query(pattern=LOCATION_NAME_PATTERN, description="Only this provider.")]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
OffsetQuery = Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")]


def _point(s: TelemetrySample | HistoryPoint) -> TelemetryPoint:
    return TelemetryPoint(
        service=s.service,
        provider=s.provider,
        region=s.region,
        ts=s.ts,
        samples=s.samples if isinstance(s, HistoryPoint) else 1,
        instance_type=s.instance_type,
        hourly_cost_usd=s.hourly_cost_usd,
        monthly_cost_usd=s.instance_monthly_cost_usd,
        latency_ms=s.latency_ms,
        credits_usd=s.credits_usd,
        gpu_availability=s.gpu_availability,
        availability=s.availability,
        error_rate=s.error_rate,
        simulated_price=s.simulated_price,
    )


def _latest(store: Store, service: str | None, provider: str | None, limit: int, offset: int) -> bytes:
    points, total = latest_page(store, service=service, provider=provider, limit=limit, offset=offset)
    page = TelemetryPage(
        mode="latest", step_s=None, start=None, end=None, limit=limit, offset=offset, total=total,
        next_offset=next_offset(offset, limit, total), items=[_point(p) for p in points],
    )  # fmt: skip
    return page.model_dump_json().encode()


def _history_window(
    start: datetime | None, end: datetime | None, step_s: int | None
) -> tuple[datetime, datetime, int]:
    """Any ``[start, end)`` is a valid range; from ``start`` on or after ``end`` it is empty. A long
    range costs no more than the samples stored in it, and the default step keeps about
    TARGET_POINTS_PER_SERIES buckets per series."""
    end = end or utcnow()
    start = start or end - DEFAULT_RANGE
    span = (end - start).total_seconds()
    return start, end, step_s or max(1, math.ceil(span / TARGET_POINTS_PER_SERIES))


@router.get(
    "/telemetry",
    response_model=TelemetryPage,
    summary="Latest telemetry per service and provider, or downsampled history (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
    description=(
        "Without `start`/`end`/`step_s`: the newest sample of every (service, provider, region). "
        "With any of them: history in [start, end) (default: the last 24 h), averaged server-side "
        f"into buckets of `step_s` seconds (default: about {TARGET_POINTS_PER_SERIES} points per series). "
        "Every range is valid: from a `start` at or after `end` it is empty (no items)."
    ),
)
async def get_telemetry(
    request: Request,
    store: StoreDep,
    _key: ViewerDep,
    service: ServiceQuery = None,
    provider: ProviderQuery = None,
    start: Annotated[QueryDateTime | None, Query(description="History start (inclusive), RFC 3339.")] = None,
    end: Annotated[QueryDateTime | None, Query(description="History end (exclusive), RFC 3339.")] = None,
    step_s: Annotated[int | None, Query(ge=1, le=86_400 * 31, description="Bucket width (s).")] = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Response:
    if start is None and end is None and step_s is None:
        cache: ResponseCache = request.app.state.cache
        versions: VersionProbe = request.app.state.versions
        key = ("telemetry-latest", service, provider, limit, offset)
        version = await versions.version("telemetry_samples")
        body = await cache.get_or_compute(
            key, version, partial(_latest, store, service, provider, limit, offset)
        )
        return Response(body, media_type="application/json")
    read = partial(_history, store, service, provider, start, end, step_s, limit, offset)
    return Response(await anyio.to_thread.run_sync(read), media_type="application/json")


def _history(
    store: Store,
    service: str | None,
    provider: str | None,
    start: datetime | None,
    end: datetime | None,
    step_s: int | None,
    limit: int,
    offset: int,
) -> bytes:
    first, last, step = _history_window(start, end, step_s)
    points, total = telemetry_history(
        store, start=first, end=last, step_s=step, service=service, provider=provider, limit=limit,
        offset=offset,
    )  # fmt: skip
    page = TelemetryPage(
        mode="history", step_s=step, start=first, end=last, limit=limit, offset=offset, total=total,
        next_offset=next_offset(offset, limit, total), items=[_point(p) for p in points],
    )  # fmt: skip
    return page.model_dump_json().encode()
