"""POST /scenarios (admin): inject a simulator scenario through the store's event log."""

from __future__ import annotations

from fastapi import APIRouter, Request

from swen.api.deps import AdminDep, StoreDep, declares_role
from swen.api.schemas import ScenarioIn, ScenarioOut
from swen.domain.keys import Role
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.scenarios import inject_scenario, parse_scenario

router = APIRouter(tags=["scenarios"])


def _catalog(request: Request) -> Catalog:
    catalog: Catalog | None = getattr(request.app.state, "catalog", None)
    if catalog is None:
        catalog = request.app.state.catalog = load_catalog()
    return catalog


@router.post(
    "/scenarios",
    response_model=ScenarioOut,
    status_code=202,
    summary="Inject a simulator scenario (role: admin)",
    openapi_extra=declares_role(Role.ADMIN),
    description="Kinds: outage, latency_spike, cost_spike, credit_expiry, gpu_stockout.",
)
def inject(request: Request, store: StoreDep, _key: AdminDep, body: ScenarioIn) -> ScenarioOut:
    scenario = parse_scenario(
        body.model_dump(exclude_none=True), label="request body", catalog=_catalog(request)
    )
    record = inject_scenario(store, scenario)
    return ScenarioOut(
        event_id=int(record.id), description=scenario.describe(), scenario=scenario.model_dump(mode="json")
    )
