"""Liveness and readiness (open by default; SWEN_OPEN_HEALTH_ENDPOINTS=false puts them behind a key)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from swen.api.deps import OPEN_ROLE, SettingsDep, declares_role
from swen.api.schemas import HealthOut, ReadyOut
from swen.config import Settings
from swen.domain.clock import utcnow
from swen.domain.errors import SwenError
from swen.observability.metrics import read_heartbeat

router = APIRouter(tags=["health"])


def heartbeat_max_age_s(settings: Settings) -> float:
    """The engine counts as alive if it beat within three of its intervals (and at least 30 s)."""
    return max(3.0 * settings.engine_interval_s, 30.0)


@router.get(
    "/healthz",
    response_model=HealthOut,
    summary="Liveness (role: none by default, else viewer)",
    openapi_extra=declares_role(OPEN_ROLE),
)
def healthz() -> HealthOut:
    return HealthOut()


@router.get(
    "/readyz",
    response_model=ReadyOut,
    summary="Readiness: store reachable and engine heartbeat recent (role: none by default, else viewer)",
    openapi_extra=declares_role(OPEN_ROLE),
    responses={503: {"model": ReadyOut, "description": "Not ready (the body says why)."}},
)
def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    problems: list[str] = []
    reachable = True
    age: float | None = None
    store = getattr(request.app.state, "store", None)
    try:
        if store is None:
            raise SwenError("the store is not open yet")
        store.ping()
        beat = read_heartbeat(store)
    except SwenError as exc:
        reachable, beat = False, None
        problems.append(f"store not reachable: {type(exc).__name__}")
    max_age = heartbeat_max_age_s(settings)
    if beat is not None:
        age = max(0.0, (utcnow() - beat).total_seconds())
        if age > max_age:
            problems.append(f"engine heartbeat is {age:.0f} s old (limit {max_age:.0f} s)")
    elif reachable:
        problems.append("the engine has not reported a heartbeat yet")
    body = ReadyOut(
        status="not_ready" if problems else "ready",
        store_reachable=reachable,
        engine_heartbeat_age_s=age,
        engine_heartbeat_max_age_s=max_age,
        problems=problems,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=503 if problems else 200)
