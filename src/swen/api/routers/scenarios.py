"""POST /scenarios (admin): inject a simulator scenario through the store's event log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ConfigDict

from swen.api.deps import AdminDep, StoreDep, declares_role
from swen.api.problems import problem_responses
from swen.api.schemas import ScenarioIn, ScenarioOut
from swen.domain.errors import NotFoundError, shown
from swen.domain.keys import Role
from swen.domain.providers import PROVIDERS
from swen.store.repository import Store
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.scenarios import ScenarioKind, inject_scenario, parse_scenario

router = APIRouter(tags=["scenarios"])


def _when(field: str, value: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {field: {"const": value}}}, "then": {"properties": then}}


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _checked_by_parse_scenario(schema: dict[str, Any]) -> None:
    """What parse_scenario checks besides ScenarioIn, in the schema: a registered provider, a region of
    that provider in the catalog, and the magnitude an outage (a severity, at most 1) or a latency
    spike (a multiplier, at least 1) takes."""
    catalog = load_catalog()
    schema["properties"]["provider"] = {"type": "string", "enum": PROVIDERS.names(), "title": "Provider"}
    magnitude = {"type": "number", "exclusiveMinimum": 0, "maximum": 1000}
    regions = {p: _or_null({"type": "string", "enum": catalog.regions(p)}) for p in PROVIDERS.names()}
    schema["allOf"] = [
        *(_when("provider", provider, {"region": region}) for provider, region in regions.items()),
        _when("kind", ScenarioKind.OUTAGE, {"magnitude": _or_null({**magnitude, "maximum": 1})}),
        _when("kind", ScenarioKind.LATENCY_SPIKE, {"magnitude": _or_null({**magnitude, "minimum": 1})}),
    ]


class ScenarioBody(ScenarioIn):
    """A simulator scenario to inject (see swen.telemetry.scenarios for the effects)."""

    model_config = ConfigDict(json_schema_extra=_checked_by_parse_scenario)


def _catalog(request: Request) -> Catalog:
    catalog: Catalog | None = getattr(request.app.state, "catalog", None)
    if catalog is None:
        catalog = request.app.state.catalog = load_catalog()
    return catalog


def _known_service(store: Store, name: str) -> None:
    """A scenario for a service outside the fleet would hit nothing: 404 naming the known ones."""
    names = [s.name for s in store.list_services()]
    if name not in names:
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        known = f"known services are {', '.join(names[:5])}{more}" if names else "no services yet"
        raise NotFoundError(f"unknown service {shown(name)}: {known}", hint="see GET /services")


@router.post(
    "/scenarios",
    response_model=ScenarioOut,
    status_code=202,
    summary="Inject a simulator scenario (role: admin)",
    openapi_extra=declares_role(Role.ADMIN),
    description="Kinds: outage, latency_spike, cost_spike, credit_expiry, gpu_stockout. A service "
    "that is not in the fleet is a 404 (the scenario would hit nothing).",
    responses=problem_responses(404),
)
def inject(
    request: Request,
    store: StoreDep,
    _key: AdminDep,
    body: ScenarioBody,
) -> ScenarioOut:
    scenario = parse_scenario(
        body.model_dump(exclude_none=True), label="request body", catalog=_catalog(request)
    )
    if scenario.service is not None:
        _known_service(store, scenario.service)
    record = inject_scenario(store, scenario)
    return ScenarioOut(
        event_id=int(record.id), description=scenario.describe(), scenario=scenario.model_dump(mode="json")
    )
