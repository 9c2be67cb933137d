"""What a person can run when self-healing escalates: real commands, with real arguments.

``next_steps(store, service, considered)`` ends every escalation reason (incident and notification):

- ``swen rollback N`` only when there is a decision to roll back: the one that put the service where
  it runs now (its placement record), in a status a rollback starts from (applied, verified, failed);
  it says which placement the rollback puts back;
- ``swen place SERVICE PROVIDER/REGION`` with the candidates the engine considered (``considered``:
  its verdict this cycle, or the decision that was refused; else the service's newest decision):
  first its ranking (they meet every hard constraint), then the candidates it excluded for reasons a
  person may overrule (quarantine, latency over the SLO, availability, stale data), never one that
  ``swen place`` would refuse (residency, no fitting offer, a provider without a Terraform module).
  Without any, the command is shown with ``PROVIDER/REGION`` and where to look (``swen explain``).
"""

from __future__ import annotations

from swen.domain.decision import ROLLBACK_FROM_STATUSES, Decision
from swen.domain.errors import NotFoundError
from swen.domain.models import Placement, Service
from swen.domain.providers import PROVIDERS
from swen.store.repository import Store

MAX_CANDIDATES = 3
HARD_REASON_PREFIXES = ("provider/region not allowed", "no offer with GPU", "cannot be applied")
"""How the engine words the exclusions ``swen place`` refuses too (``engine.constraints.describe``)."""


def next_steps(store: Store, service: str, considered: Decision | None = None) -> str:
    steps = []
    rollback = _rollback_step(store, service)
    if rollback:
        steps.append(rollback)
    steps.append(_place_step(store, service, considered))
    return "a person decides: " + ", or ".join(steps)


def _rollback_step(store: Store, service: str) -> str | None:
    record = store.placement_records().get(service)
    if record is None or record.decision_id is None:
        return None
    try:
        stored = store.get_decision(record.decision_id)
    except NotFoundError:
        return None
    if stored.status not in ROLLBACK_FROM_STATUSES:
        return None
    return f"roll back with `swen rollback {stored.decision.id}` (puts {stored.decision.current.key} back)"


def _place_step(store: Store, service: str, considered: Decision | None) -> str:
    decision = considered or _newest(store, service)
    where = _service(store, service)
    here = store.get_placements().get(service)
    candidates = _candidates(decision, where, here) if decision is not None else []
    if not candidates:
        return (
            f"choose a placement with `swen place {service} PROVIDER/REGION` (no candidate meets the "
            f"service's constraints now: see `swen explain {service}`)"
        )
    commands = " or ".join(f"`swen place {service} {c.key}`" for c in candidates)
    return f"choose a placement: {commands}"


def _candidates(decision: Decision, service: Service | None, here: Placement | None) -> list[Placement]:
    current = here or decision.current
    out = [s.placement for s in decision.ranking if s.placement != current]
    for excluded in decision.excluded:
        hard = any(r.startswith(HARD_REASON_PREFIXES) for r in excluded.reasons)
        if not hard and excluded.placement != current:
            out.append(excluded.placement)
    undeployable = PROVIDERS.undeployable()
    return [
        p
        for p in dict.fromkeys(out)
        if p.provider not in undeployable and (service is None or service.allows(p))
    ][:MAX_CANDIDATES]


def _newest(store: Store, service: str) -> Decision | None:
    rows = store.list_decisions(service=service, limit=1)
    return rows[0].decision if rows else None


def _service(store: Store, name: str) -> Service | None:
    try:
        return store.get_service(name)
    except NotFoundError:
        return None
