"""GET /services and GET /services/{name}: the fleet with where each service runs and its cost."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from swen.api.deps import StoreDep, ViewerDep, declares_role
from swen.api.schemas import RunningOut, ServiceList, ServiceOut
from swen.domain.keys import Role
from swen.domain.models import Service
from swen.domain.names import SERVICE_NAME_PATTERN
from swen.moves.running import RunningService, running_service, running_services

router = APIRouter(tags=["services"])


def running_out(running: RunningService) -> RunningOut:
    """Every field of ``RunningOut`` is the attribute of the same name of ``running``."""
    return RunningOut.model_validate(running, from_attributes=True)


def service_out(svc: Service, running: RunningService) -> ServiceOut:
    return ServiceOut(
        name=svc.name,
        shape=svc.shape,
        stateful=svc.stateful,
        latency_slo_ms=svc.latency_slo_ms,
        criticality=svc.criticality,
        users_region=svc.users_region,
        allowed_providers=list(svc.allowed_providers),
        allowed_regions=list(svc.allowed_regions),
        current=svc.fleet_placement,
        placement=running.placement if running.source == "applied" else None,
        monthly_budget_usd=svc.monthly_budget_usd,
        replicas=svc.replicas,
        running=running_out(running),
    )


@router.get(
    "/services",
    response_model=ServiceList,
    summary="Every service with where it runs and its monthly cost (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def list_services(store: StoreDep, _key: ViewerDep) -> ServiceList:
    fleet = store.list_services()
    running = running_services(store, services=fleet)
    return ServiceList(items=[service_out(s, running[s.name]) for s in fleet])


@router.get(
    "/services/{name}",
    response_model=ServiceOut,
    summary="One service (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def get_service(
    store: StoreDep,
    _key: ViewerDep,
    name: Annotated[str, Path(pattern=SERVICE_NAME_PATTERN, description="Service name.")],
) -> ServiceOut:
    running = running_service(store, name)
    return service_out(store.get_service(name), running)
