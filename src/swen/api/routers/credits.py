"""GET /credits (viewer): the credit ledger's grants, balances, burn rate, expiry and projected run-out.

The same view as ``swen credits``: the ledger file burnt by where services run, replayed from the
store (``telemetry/ledger.py``). The API only reads it; the engine burns. Each API process keeps one
ledger and takes in only the intervals recorded since the last request (a month of 5-minute intervals
takes ~0.6 s to replay, a refresh a few ms); the ledger file is read when the process starts.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request

from swen.api.credit_schemas import CreditsOut
from swen.api.deps import SettingsDep, StoreDep, ViewerDep, declares_role
from swen.domain.keys import Role
from swen.telemetry.ledger import LiveLedger

router = APIRouter(tags=["credits"])


@router.get(
    "/credits",
    response_model=CreditsOut,
    summary="Cloud credits: grants, balances, burn rate, expiry and projected run-out (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def get_credits(request: Request, settings: SettingsDep, store: StoreDep, _key: ViewerDep) -> CreditsOut:
    state = request.app.state
    with _LOCK:
        ledger: LiveLedger | None = getattr(state, "credit_ledger", None)
        if ledger is None:
            ledger = state.credit_ledger = LiveLedger(settings, store)
        else:
            ledger.refresh()
        status = ledger.status()
    return CreditsOut.model_validate(status.to_dict())


_LOCK = threading.Lock()
"""One request at a time updates the process's ledger (sync routes run in a thread pool)."""
