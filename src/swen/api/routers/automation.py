"""GET /automation (viewer); POST /automation/pause and /automation/resume (operator).

The global automation switch of ``swen.moves.automation`` (the same as `swen automation pause|resume`):
while paused the engine still scores and records decisions, but nothing is merged or applied without a
person's approval. Every change is an ``automation`` event in the audit log, naming the API key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from swen.api.deps import OperatorDep, StoreDep, ViewerDep, declares_role
from swen.api.schemas import AutomationIn, AutomationOut
from swen.domain.keys import Principal, Role
from swen.moves import automation
from swen.store.repository import Store
from swen.store.state import AutomationSwitch

router = APIRouter(tags=["automation"])

AutomationBody = Annotated[AutomationIn | None, Body(description="Why (kept in the audit log).")]


def _out(state: AutomationSwitch) -> AutomationOut:
    return AutomationOut(paused=state.paused, by=state.by, at=state.at, reason=state.reason or None)


def _actor(key: Principal) -> str:
    return f"{key.name} (api key {key.key_id})" if key.key_id is not None else key.name


def _set(store: Store, paused: bool, key: Principal, body: AutomationIn | None) -> AutomationOut:
    reason = body.reason.strip() if body is not None and body.reason else ""
    return _out(automation.set_paused(store, paused, by=_actor(key), reason=reason))


@router.get(
    "/automation",
    response_model=AutomationOut,
    summary="Whether automatic applies are paused, by whom, since when and why (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def get_automation(store: StoreDep, _key: ViewerDep) -> AutomationOut:
    return _out(automation.state(store))


@router.post(
    "/automation/pause",
    response_model=AutomationOut,
    summary="Pause every automatic merge and apply (role: operator)",
    openapi_extra=declares_role(Role.OPERATOR),
)
def pause(store: StoreDep, key: OperatorDep, body: AutomationBody = None) -> AutomationOut:
    return _set(store, True, key, body)


@router.post(
    "/automation/resume",
    response_model=AutomationOut,
    summary="Allow automatic merges and applies again (role: operator)",
    openapi_extra=declares_role(Role.OPERATOR),
)
def resume(store: StoreDep, key: OperatorDep, body: AutomationBody = None) -> AutomationOut:
    return _set(store, False, key, body)
