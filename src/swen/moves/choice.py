"""A person chooses a placement: ``swen place SERVICE PROVIDER/REGION`` and ``POST
/services/{service}/placement`` build the decision here, and :meth:`MoveDriver.place` (or the engine's
``resume``) carries it through the normal move: branch, tfvars edit, merge request, pipeline, gate.

What is checked, each a clear refusal that names what would work (``InvalidInputError`` for a
placement that is not one, ``ConflictError`` for one the service's state rules out, ``NotFoundError``
for an unknown service):

- the service is in the fleet (``NotFoundError`` listing the known ones);
- ``PROVIDER/REGION`` is a known provider and a region of it in the catalog;
- the platform can apply it: a provider without a Terraform module (GCP in this release) is scored for
  comparison but cannot be placed on (the provider registry's ``gaps``);
- the service's residency rules allow it, and an offer there fits its shape (vCPU, memory, GPU);
- the service does not run there already, and there is telemetry priced at the target (the cost of
  the move is shown to the reviewer and judged by the gate).

Softer problems the engine would exclude the target for (quarantined by self-healing, p95 above the
SLO, availability below the floor, stale telemetry) do not stop a person: they are listed as warnings
in the decision's reasons, for the reviewer.

**The gate.** An operator's choice is a normal (not emergency) move, so the policy gate judges it like
any other. Its confidence is the engine's own when the engine ranks the chosen target first (the
person agrees with the engine); otherwise 0, because the engine did not choose it. So a choice against
the engine's ranking always waits for a person's approval (``swen mr approve N``), with the gate's
reasons on the merge request; one that agrees with a confident engine, is cheap enough and touches no
stateful service may be auto-approved, as the engine's own move would be. While automation is paused
nothing is applied without a person either way (the pipeline turns an auto-approval into a wait).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from swen.config import Settings
from swen.domain.decision import (
    ALLOWED_TRANSITIONS,
    Confidence,
    Decision,
    DecisionAction,
    DecisionStatus,
    Savings,
)
from swen.domain.errors import ConflictError, InvalidInputError, NotFoundError, shown
from swen.domain.merge_requests import MRKind, MRState
from swen.domain.models import Offer, Placement, Service, ServiceShape, TelemetrySample, Weights
from swen.domain.providers import PROVIDERS
from swen.engine import explain
from swen.engine.savings import net_savings
from swen.moves.lifecycle import platform_now
from swen.moves.running import running_services
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

MAX_ACTOR = 120
MAX_REASON = 500
SHOWN_NAMES = 5


class PlacementCatalog(Protocol):
    """What a choice needs of the price catalog (``swen.telemetry.catalog.Catalog``)."""

    def check_placement(self, placement: Placement) -> None: ...
    def best_offer(self, shape: ServiceShape, placement: Placement) -> Offer | None: ...
    def no_offer_reason(self, shape: ServiceShape, placement: Placement) -> str: ...
    def egress_usd_per_gb(self, src: Placement, dst: Placement) -> float: ...


def parse_target(text: str) -> Placement:
    """``"aws/us-east-1"`` -> Placement; anything else is an InvalidInputError showing the form."""
    provider, slash, region = text.partition("/")
    if not slash or not provider or not region or "/" in region:
        raise InvalidInputError(
            f"placement {shown(text)} is not PROVIDER/REGION", hint="write it like aws/us-east-1"
        )
    if provider not in PROVIDERS:
        lower = provider.lower()
        hint = f"provider names are lowercase: use {lower!r}" if lower in PROVIDERS else "no other is known"
        raise InvalidInputError(
            f"unknown provider {shown(provider)}: use one of {PROVIDERS.choices()}", hint=hint
        )
    try:
        return Placement(provider=provider, region=region)
    except ValueError:
        raise InvalidInputError(
            f"region {shown(region)} is not a region name", hint="lowercase letters, digits and '-'"
        ) from None


def choose(
    settings: Settings,
    store: Store,
    catalog: PlacementCatalog,
    service_name: str,
    target: Placement,
    *,
    by: str,
    reason: str = "",
    now: datetime | None = None,
) -> Decision:
    """The decision that moves ``service_name`` to ``target`` because ``by`` chose it (see the module
    docstring for every check). Nothing is written."""
    by, reason = _text(by, MAX_ACTOR, "name") or "unknown", _text(reason, MAX_REASON, "reason")
    service = _service(store, service_name)
    _check_target(catalog, service, target)
    running = running_services(store, services=[service])[service.name]
    current = running.placement
    if target == current:
        raise ConflictError(
            f"{service.name} already runs on {target.key}", hint="choose another placement, or nothing"
        )
    _check_nothing_blocks(store, service.name)
    samples = {(s.provider, s.region): s for s in store.latest_samples(service=service.name)}
    at_target = samples.get((target.provider, target.region))
    if at_target is None:
        raise ConflictError(
            f"no telemetry for {service.name} on {target.key} yet, so the move cannot be priced",
            hint="wait for the simulator or collector to report it (`swen explain " + service.name + "`)",
        )
    latest = _engine_latest(store, service.name)
    savings = _savings(service, catalog, current, target, samples.get((current.provider, current.region)),
                       at_target, amortisation_months=settings.amortisation_months)  # fmt: skip
    warnings = list(_warnings(latest, target))
    if (current.provider, current.region) not in samples:
        warnings.append(f"warning: no telemetry on {current.key}: its monthly cost is counted as $0")
    created_at = (now or platform_now(store)).replace(microsecond=0)
    confidence = _confidence(latest, target)
    why = f"chosen by {by}" + (f": {reason}" if reason else "")
    text = (
        f"Move {service.name} from {current.key} to {target.key}, {why}: {explain.cost_phrase(savings)}, "
        f"confidence {confidence.value:.2f} ({_agreement(latest, target)}). {explain.net_phrase(savings)}"
    )
    return Decision(
        id=operator_decision_id(service.name, created_at, target),
        service=service.name,
        created_at=created_at,
        action=DecisionAction.MIGRATE,
        emergency=False,
        stateful=service.stateful,
        current=current,
        target=target,
        ranking=latest.ranking if latest else (),
        excluded=latest.excluded if latest else (),
        confidence=confidence,
        savings=savings,
        weights=latest.weights if latest else Weights(),
        explanation=text,
        reasons=(why, *warnings),
        chosen_by=by,
    )


def operator_decision_id(service: str, created_at: datetime, target: Placement) -> str:
    """Like the engine's ids, but never equal to one: ``op-`` and a hash of what was chosen when."""
    digest = hashlib.sha256(f"operator|{service}|{created_at.isoformat()}|{target.key}".encode()).hexdigest()
    return f"op-{digest[:16]}"


def later(decision: Decision, seconds: int = 1) -> Decision:
    """The same choice one second later (a new id): its branch name must not be taken."""
    created_at = decision.created_at + timedelta(seconds=seconds)
    return decision.model_copy(
        update={
            "created_at": created_at,
            "id": operator_decision_id(decision.service, created_at, decision.target),
        }
    )


# --- parts --------------------------------------------------------------------------------------------
def _text(value: str, limit: int, what: str) -> str:
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    if len(text) > limit:
        raise InvalidInputError(f"the {what} is longer than {limit} characters", hint=f"shorten the {what}")
    return text


def _service(store: Store, name: str) -> Service:
    services = store.list_services()
    for service in services:
        if service.name == name:
            return service
    names = [s.name for s in services]
    if not names:
        raise NotFoundError(f"unknown service {shown(name)}: no services yet", hint="run `swen up` first")
    more = f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else ""
    raise NotFoundError(
        f"unknown service {shown(name)}: known services are {', '.join(names[:SHOWN_NAMES])}{more}",
        hint="see `swen services`",
    )


def _check_target(catalog: PlacementCatalog, service: Service, target: Placement) -> None:
    catalog.check_placement(target)  # unknown provider or region: InvalidInputError naming known ones
    gap = PROVIDERS.undeployable().get(target.provider)
    if gap is not None:
        usable = ", ".join(p for p in PROVIDERS.names() if p not in PROVIDERS.undeployable())
        raise InvalidInputError(
            f"cannot place {service.name} on {target.key}: {gap}", hint=f"choose a placement on {usable}"
        )
    if not service.allows(target):
        allowed = [f"providers {', '.join(service.allowed_providers)}"] if service.allowed_providers else []
        if service.allowed_regions:
            allowed.append(f"regions {', '.join(service.allowed_regions)}")
        raise ConflictError(
            f"{service.name} may not run on {target.key}: its residency allows only {'; '.join(allowed)}",
            hint="choose an allowed placement, or change the fleet file",
        )
    if catalog.best_offer(service.shape, target) is None:
        raise ConflictError(
            f"cannot place {service.name} on {target.key}: {catalog.no_offer_reason(service.shape, target)}",
            hint="choose a placement that offers the service's shape (see `swen explain`)",
        )


def _check_nothing_blocks(store: Store, service: str) -> None:
    """The new MR supersedes the service's open ones (the committer's rule): an open rollback, or a
    move already approved, must finish first. Checked before anything is written."""
    for mr in MergeRequestRepository(store).list(state=MRState.OPENED, service=service, limit=100):
        if mr.kind is MRKind.ROLLBACK:
            raise ConflictError(
                f"rollback MR {mr.id} of {service} is still open", hint="merge or close it first"
            )
        status = store.get_decision(mr.decision_id).status
        if (
            status is not DecisionStatus.SUPERSEDED
            and DecisionStatus.SUPERSEDED not in ALLOWED_TRANSITIONS[status]
        ):
            raise ConflictError(
                f"MR {mr.id} of {service} is {status.value} and cannot be superseded",
                hint="wait until it is applied or failed, or reject it, then choose again",
            )


def _monthly(sample: TelemetrySample | None, replicas: int) -> float:
    return 0.0 if sample is None else sample.instance_monthly_cost_usd * replicas


def _savings(
    service: Service,
    catalog: PlacementCatalog,
    current: Placement,
    target: Placement,
    at_current: TelemetrySample | None,
    at_target: TelemetrySample,
    *,
    amortisation_months: float,
) -> Savings:
    """The engine's savings formula (``swen.engine.savings``) for this one move."""

    def one(value: float) -> np.ndarray:
        return np.array([value], dtype=np.float64)

    egress = catalog.egress_usd_per_gb(current, target)
    arrays = net_savings(
        current_monthly=one(_monthly(at_current, service.replicas)),
        target_monthly=one(_monthly(at_target, service.replicas)),
        current_credits=one(0.0 if at_current is None else at_current.credits_usd),
        target_credits=one(at_target.credits_usd),
        migration_usd=one(service.state_gb * egress),
        amortisation_months=amortisation_months,
    )
    return arrays.at(0).model_copy()


def _confidence(latest: Decision | None, target: Placement) -> Confidence:
    """The engine's confidence when it ranks ``target`` first; else 0 (it did not choose it)."""
    if latest is not None and _engine_best(latest) == target:
        return latest.confidence
    margin = 0.0
    if latest is not None:
        totals = {s.placement: s.total for s in latest.ranking}
        current = next((s.total for s in latest.ranking if s.is_current), None)
        if target in totals and current is not None:
            margin = totals[target] - current
    return Confidence(
        value=0.0, margin=margin, margin_term=0.0, stability=0.0, stability_cycles=0, stability_window=0,
        freshness=1.0,
    )  # fmt: skip


def _engine_latest(store: Store, service: str) -> Decision | None:
    """The engine's newest decision for ``service`` (people's choices skipped): its ranking."""
    for stored in store.list_decisions(service=service, limit=50):
        if stored.decision.chosen_by is None:
            return stored.decision
    return None


def _engine_best(latest: Decision) -> Placement | None:
    return latest.ranking[0].placement if latest.ranking else None


def _agreement(latest: Decision | None, target: Placement) -> str:
    if latest is None:
        return "the engine has not scored this service yet"
    best = _engine_best(latest)
    if best == target:
        return "the engine ranks it first too"
    rank = next((s.rank for s in latest.ranking if s.placement == target), None)
    where = f"ranks it #{rank}" if rank is not None else "excludes it"
    return f"the engine {where}" + (f"; its best is {best.key}" if best is not None else "")


def _warnings(latest: Decision | None, target: Placement) -> Sequence[str]:
    """Why the engine excluded the target, as warnings for the reviewer."""
    if latest is None:
        return ()
    for excluded in latest.excluded:
        if excluded.placement == target:
            return tuple(f"warning: the engine excludes {target.key}: {r}" for r in excluded.reasons)
    return ()
