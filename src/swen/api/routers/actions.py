"""GET /actions: the action queue the leader engine's workers drain, and the change budget in use.

The same view as ``swen queue`` (``swen.moves.queue.queue_view``): counts per state, the budget's
limits and use (open move MRs and applies in flight, in the fleet and per provider), and a page of
actions, pending first in the order the workers take them, each saying why it waits ("waiting: change
budget full (20 open MRs)"), so a user can tell why nothing happens.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from swen.api.action_schemas import ActionOut, ActionPage, ActionState, BudgetLimitsOut, BudgetOut
from swen.api.deps import SettingsDep, StoreDep, ViewerDep, declares_role
from swen.api.routers.telemetry import OffsetQuery
from swen.api.schemas import next_offset
from swen.domain.keys import Role
from swen.moves.queue import QueueView, queue_view

router = APIRouter(tags=["actions"])


def _page(view: QueueView, *, state: ActionState | None, limit: int, offset: int) -> ActionPage:
    b, u = view.budget, view.use
    total = view.counts[state.value] if state is not None else sum(view.counts.values())
    return ActionPage(
        limit=limit,
        offset=offset,
        total=total,
        next_offset=next_offset(offset, limit, total),
        counts=view.counts,
        budget=BudgetOut(
            limits=BudgetLimitsOut(fleet_mrs=b.fleet_mrs, fleet_applies=b.fleet_applies,
                                   provider_mrs=b.provider_mrs, provider_applies=b.provider_applies),
            open_mrs=u.open_mrs, open_mrs_by_provider=u.open_mrs_by_provider,
            in_flight=u.in_flight, in_flight_by_provider=u.in_flight_by_provider,
            summary=view.summary(),
        ),
        items=[
            ActionOut(id=r.action.id, key=r.action.key, kind=r.action.kind, service=r.action.service,
                      decision_id=r.action.decision_id, mr_id=r.action.mr_id, provider=r.action.provider,
                      emergency=r.action.emergency, priority=r.action.priority,
                      state=ActionState(r.action.state), attempts=r.action.attempts,
                      worker=r.action.worker, waiting=r.waiting, outcome=r.action.outcome,
                      enqueued_at=r.action.enqueued_at, updated_at=r.action.updated_at)
            for r in view.actions
        ],
    )  # fmt: skip


@router.get(
    "/actions",
    response_model=ActionPage,
    summary="The action queue (pending first, in the order workers take them) and the change budget "
    "(role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def list_actions(
    store: StoreDep,
    settings: SettingsDep,
    _key: ViewerDep,
    state: Annotated[ActionState | None, Query(description="Only actions in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    offset: OffsetQuery = 0,
) -> ActionPage:
    view = queue_view(settings, store, state=state.value if state else None, limit=limit, offset=offset)
    return _page(view, state=state, limit=limit, offset=offset)
