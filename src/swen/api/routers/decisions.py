"""GET /decisions and GET /decisions/{decision_id}: full rankings, confidence parts and lifecycle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from swen.api.cache import ResponseCache
from swen.api.deps import StoreDep, ViewerDep, declares_role
from swen.api.routers.telemetry import OffsetQuery, ServiceQuery
from swen.api.schemas import DecisionOut, DecisionPage, LifecycleEvent, QueryDateTime, next_offset
from swen.domain.decision import DecisionStatus
from swen.domain.events import EventType
from swen.domain.keys import Role
from swen.store.reads import count_decisions, decision_histories
from swen.store.records import EventRecord, StoredDecision
from swen.store.repository import Store
from swen.store.versions import VersionProbe

router = APIRouter(tags=["decisions"])

DECISION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
DecisionIdPath = Annotated[str, Path(pattern=DECISION_ID_PATTERN, description="Decision id.")]


def _entered_status(event: EventRecord) -> str | None:
    if event.type == EventType.DECISION_STATUS:
        value = event.payload.get("to")
    elif event.type == EventType.DECISION:
        value = event.payload.get("status")
    else:
        return None
    return str(value) if value is not None else None


def _lifecycle_event(event: EventRecord) -> LifecycleEvent:
    return LifecycleEvent(
        event_id=event.id, ts=event.ts, type=event.type, status=_entered_status(event), payload=event.payload
    )


def decision_out(stored: StoredDecision, history: Sequence[EventRecord]) -> DecisionOut:
    """Every field of the decision, plus its lifecycle status and events."""
    return DecisionOut.model_validate(
        {
            **dict(stored.decision),
            "status": stored.status,
            "updated_at": stored.updated_at,
            "history": [_lifecycle_event(e) for e in history],
        }
    )


def _render_page(
    store: Store,
    service: str | None,
    status: DecisionStatus | None,
    since: datetime | None,
    limit: int,
    offset: int,
) -> bytes:
    stored = store.list_decisions(service=service, status=status, since=since, limit=limit, offset=offset)
    total = count_decisions(store, service=service, status=status, since=since)
    histories = decision_histories(store, [s.decision.id for s in stored])
    page = DecisionPage(
        limit=limit, offset=offset, total=total,
        next_offset=next_offset(offset, limit, total),
        items=[decision_out(s, histories[s.decision.id]) for s in stored],
    )  # fmt: skip
    return page.model_dump_json().encode()


@router.get(
    "/decisions",
    response_model=DecisionPage,
    summary="Decisions, newest first, with ranking, confidence and lifecycle (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
async def list_decisions(
    request: Request,
    store: StoreDep,
    _key: ViewerDep,
    service: ServiceQuery = None,
    status: Annotated[DecisionStatus | None, Query(description="Only decisions in this status.")] = None,
    since: Annotated[QueryDateTime | None, Query(description="Created at or after (RFC 3339).")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size (each item is a full decision).")] = 25,
    offset: OffsetQuery = 0,
) -> Response:
    cache: ResponseCache = request.app.state.cache
    versions: VersionProbe = request.app.state.versions
    key = ("decisions", service, status, since, limit, offset)
    version = await versions.version("events")
    read = partial(_render_page, store, service, status, since, limit, offset)
    body = await cache.get_or_compute(key, version, read)
    return Response(body, media_type="application/json")


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionOut,
    summary="One decision with its full ranking, confidence parts and lifecycle (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def get_decision(store: StoreDep, _key: ViewerDep, decision_id: DecisionIdPath) -> DecisionOut:
    stored = store.get_decision(decision_id)
    return decision_out(stored, store.decision_history(decision_id))
