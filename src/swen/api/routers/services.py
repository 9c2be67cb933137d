"""GET /services and GET /services/{name}: the fleet with its applied placements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from swen.api.auth import Role
from swen.api.deps import StoreDep, ViewerDep, declares_role
from swen.api.schemas import ServiceList, ServiceOut
from swen.domain.models import Placement, Service
from swen.domain.names import SERVICE_NAME_PATTERN

router = APIRouter(tags=["services"])


def service_out(svc: Service, placement: Placement | None) -> ServiceOut:
    return ServiceOut(
        name=svc.name,
        shape=svc.shape,
        stateful=svc.stateful,
        latency_slo_ms=svc.latency_slo_ms,
        criticality=svc.criticality,
        users_region=svc.users_region,
        allowed_providers=list(svc.allowed_providers),
        allowed_regions=list(svc.allowed_regions),
        current=svc.current,
        placement=placement,
        monthly_budget_usd=svc.monthly_budget_usd,
        replicas=svc.replicas,
    )


@router.get(
    "/services",
    response_model=ServiceList,
    summary="Every service with its placement (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def list_services(store: StoreDep, _key: ViewerDep) -> ServiceList:
    placements = store.get_placements()
    return ServiceList(items=[service_out(s, placements.get(s.name)) for s in store.list_services()])


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
    return service_out(store.get_service(name), store.get_placements().get(name))
