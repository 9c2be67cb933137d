"""Response schemas of ``GET /actions`` (the action queue and the change budget: ``routers/actions.py``).

Apart from the router so that the dashboard, which reads only the API, parses the answer into them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ActionState(StrEnum):
    pending = "pending"
    running = "running"
    done = "done"
    failed = "failed"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class BudgetLimitsOut(_Out):
    fleet_mrs: int = Field(description="Most open move MRs in the fleet (SWEN_BUDGET_FLEET_MRS).")
    fleet_applies: int = Field(description="Most moves in flight in the fleet (SWEN_BUDGET_FLEET_APPLIES).")
    provider_mrs: int = Field(description="Most open move MRs per target provider.")
    provider_applies: int = Field(description="Most moves in flight per target provider.")


class BudgetOut(_Out):
    limits: BudgetLimitsOut
    open_mrs: int = Field(description="Open move MRs now (emergencies and rollbacks not counted).")
    open_mrs_by_provider: dict[str, int]
    in_flight: int = Field(description="Moves a worker is carrying out now (claimed, lease live).")
    in_flight_by_provider: dict[str, int]
    summary: str


class ActionOut(_Out):
    id: int
    key: str = Field(
        description="One action per decision and phase: propose:<id>, apply:<id>, rollback:<mr>."
    )
    kind: str = Field(description="propose | apply | rollback")
    service: str
    decision_id: str | None
    mr_id: int | None
    provider: str = Field(description="The move's target provider ('-' for a rollback).")
    emergency: bool = Field(description="Emergencies go first and are never held by the budget.")
    priority: float = Field(description="Net monthly savings (USD) of the move: the most valuable go first.")
    state: ActionState
    attempts: int
    worker: str | None
    waiting: str | None = Field(description="Why a pending action waits now; null when it goes next.")
    outcome: str | None
    enqueued_at: datetime
    updated_at: datetime


class ActionPage(_Out):
    limit: int
    offset: int
    total: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")
    counts: dict[str, int] = Field(description="Actions per state.")
    budget: BudgetOut
    items: list[ActionOut]
