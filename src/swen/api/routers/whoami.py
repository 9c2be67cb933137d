"""GET /whoami: the calling key's name and role, so clients can show or hide what the role allows."""

from __future__ import annotations

from fastapi import APIRouter

from swen.api.deps import ViewerDep, declares_role
from swen.api.schemas import WhoAmIOut
from swen.domain.keys import Role

router = APIRouter(tags=["auth"])


@router.get(
    "/whoami",
    response_model=WhoAmIOut,
    summary="The calling key: its id, name and role (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def whoami(key: ViewerDep) -> WhoAmIOut:
    return WhoAmIOut(key_id=key.key_id, name=key.name, role=key.role.value)
