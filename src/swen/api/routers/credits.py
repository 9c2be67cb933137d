"""GET /credits (viewer): the credit ledger's grants, balances, burn rate, expiry and projected run-out.

The same view as ``swen credits``: the ledger file burnt by where services run, replayed from the
store (``telemetry/ledger.py``). The API only reads it; the engine burns.
"""

from __future__ import annotations

from fastapi import APIRouter

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
def get_credits(settings: SettingsDep, store: StoreDep, _key: ViewerDep) -> CreditsOut:
    return CreditsOut.model_validate(LiveLedger(settings, store).status().to_dict())
