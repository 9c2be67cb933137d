"""POST /services/{name}/placement (operator): a person chooses where a service runs.

The same choice as ``swen place`` (``swen.moves.choice``): validated against the fleet, the catalog,
the service's residency and shape, and what the platform can apply; recorded as a proposed decision
chosen by the key's owner. The engine process carries it on (``MoveDriver.resume``: branch, tfvars
edit, merge request, pipeline, policy gate), never this request, like an approval. The gate decides
whether a person must approve it (``swen.moves.choice``); the live feed reports each step.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from swen.api.deps import OperatorDep, StoreDep, declares_role
from swen.api.problems import problem_responses
from swen.api.schemas import Text
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.domain.models import Placement
from swen.domain.names import SERVICE_NAME_PATTERN
from swen.domain.providers import PROVIDERS
from swen.moves.choice import MAX_REASON, choose
from swen.moves.lifecycle import Lifecycle
from swen.store.repository import Store
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.price_versions import CatalogFollower

router = APIRouter(tags=["services"])

LOCATION_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"


def _deployable() -> list[str]:
    return [p for p in PROVIDERS.names() if p not in PROVIDERS.undeployable()]


def _catalog_placements(schema: dict[str, Any]) -> None:
    """What ``moves.choice`` checks of the placement itself, in the schema: a provider the platform
    can apply and a region of it in the catalog. What the service's state rules out (residency, no
    fitting offer, no telemetry yet, already there) is a 409, unknown services a 404."""
    catalog = load_catalog()
    schema["properties"]["provider"] = {"type": "string", "enum": _deployable(), "title": "Provider"}
    schema["allOf"] = [
        {
            "if": {"properties": {"provider": {"const": provider}}},
            "then": {"properties": {"region": {"type": "string", "enum": catalog.regions(provider)}}},
        }
        for provider in _deployable()
    ]


class PlacementIn(BaseModel):
    """Where the service should run."""

    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_catalog_placements)

    provider: str = Field(
        pattern=LOCATION_PATTERN,
        description="A provider the platform can apply (one without a Terraform module: 422).",
    )
    region: str = Field(pattern=LOCATION_PATTERN, description="A region of that provider in the catalog.")
    reason: Text = Field(default="", max_length=MAX_REASON, description="Why; kept in the decision.")


class PlacementOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision_id: str
    status: DecisionStatus = Field(description="proposed: the engine opens its merge request next.")
    service: str
    current: Placement
    target: Placement
    chosen_by: str
    confidence: float = Field(description="The engine's when it ranks the target first, else 0.")
    cost_delta_pct: float = Field(description="List-price change in % (the gate's cost delta).")
    net_monthly_usd: float = Field(description="Net monthly saving (negative: the move costs more).")
    explanation: str
    reasons: list[str] = Field(description="Who chose it and why, then warnings for the reviewer.")


def _catalog(request: Request, store: Store) -> Catalog:
    """The active price catalog version (followed across refreshes, one cheap query per request)."""
    prices: CatalogFollower | None = getattr(request.app.state, "prices", None)
    if prices is None:
        prices = request.app.state.prices = CatalogFollower(store)
    return prices.poll() or prices.catalog


def _actor(key: OperatorDep) -> str:
    return f"{key.name} (api key {key.key_id})" if key.key_id is not None else key.name


@router.post(
    "/services/{name}/placement",
    response_model=PlacementOut,
    status_code=202,
    summary="Choose where a service runs (role: operator)",
    openapi_extra=declares_role(Role.OPERATOR),
    description=(
        "Records a person's choice as a proposed decision; the engine carries it through the normal "
        "move (merge request, pipeline, policy gate). 404: unknown service; 422: a provider the "
        "platform cannot apply or a region not in the catalog; 409: a placement the service's "
        "residency forbids, without an offer for its shape, not priced yet, or where it already runs."
    ),
    responses=problem_responses(404, 409, 422),
)
def choose_placement(
    request: Request,
    store: StoreDep,
    key: OperatorDep,
    name: Annotated[str, Path(pattern=SERVICE_NAME_PATTERN, description="Service name.")],
    body: PlacementIn,
) -> PlacementOut:
    settings = request.app.state.settings
    target = Placement(provider=body.provider, region=body.region)
    decision = choose(
        settings, store, _catalog(request, store), name, target, by=_actor(key), reason=body.reason
    )
    Lifecycle(store).proposed(decision)
    return PlacementOut(
        decision_id=decision.id,
        status=store.get_decision(decision.id).status,
        service=decision.service,
        current=decision.current,
        target=decision.target,
        chosen_by=decision.chosen_by or "",
        confidence=decision.confidence.value,
        cost_delta_pct=decision.savings.cost_delta_pct,
        net_monthly_usd=decision.savings.net_monthly_usd,
        explanation=decision.explanation,
        reasons=list(decision.reasons),
    )
