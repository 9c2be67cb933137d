"""WS /ws: the live feed, read from the store's append-only event log.

Every message is one audit event as JSON: ``{"id", "type", "ts", "service", "decision_id",
"payload"}``; ids increase monotonically (they are the event log's ids). Connect with
``?after=<last id seen>`` to get everything written since (also by other processes: the feed polls
the shared event log), or without it to get only what happens from now on. ``?types=decision,mr``
narrows the feed. Auth: ``Authorization: Bearer <key>`` (role viewer); a refused handshake gets an
HTTP 401/403 problem (or close code 1008 where the server cannot send one).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from swen.api.auth import Role
from swen.api.problems import problem_response
from swen.domain.events import EventType
from swen.store.keys import ApiKeyRepository
from swen.store.reads import events_version
from swen.store.records import EventRecord
from swen.store.repository import Store

router = APIRouter(tags=["live feed"])

POLL_INTERVAL_S = 0.25
BATCH = 500


def event_message(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "ts": event.ts.isoformat(),
        "service": event.service,
        "decision_id": event.decision_id,
        "payload": event.payload,
    }


def _parse_types(raw: str | None) -> list[EventType] | None:
    if not raw:
        return None
    valid = {t.value for t in EventType}
    names = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [n for n in names if n not in valid]
    if bad:
        raise ValueError(f"unknown event types {bad}; valid: {sorted(valid)}")
    return [EventType(n) for n in names]


async def _refuse(websocket: WebSocket, status: int, detail: str) -> None:
    response = problem_response(status, detail, instance="/ws")
    try:
        await websocket.send_denial_response(response)
    except RuntimeError:  # the server does not support denial responses
        await websocket.close(code=1008, reason=detail[:120])


def _role_of(store: Store, authorization: str | None) -> Role | None:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    record = ApiKeyRepository(store).authenticate(key.strip())
    return record.role if record else None


def _read(store: Store, cursor: int, wanted: list[EventType] | None) -> list[EventRecord]:
    return store.events_after(cursor, limit=BATCH, types=wanted)


async def _wait_for_disconnect(websocket: WebSocket, timeout: float) -> bool:
    """True if the client went away within ``timeout`` (client messages are ignored)."""
    try:
        message = await asyncio.wait_for(websocket.receive(), timeout)
    except TimeoutError:
        return False
    return bool(message["type"] == "websocket.disconnect")


@router.websocket("/ws")
async def live_feed(
    websocket: WebSocket,
    after: Annotated[int | None, Query(ge=0, description="Last event id the client saw.")] = None,
    types: Annotated[str | None, Query(max_length=500, description="Comma-separated event types.")] = None,
) -> None:
    store: Store = websocket.app.state.store
    role = await anyio.to_thread.run_sync(_role_of, store, websocket.headers.get("authorization"))
    if role is None:
        await _refuse(websocket, 401, "an API key is required (Authorization: Bearer <key>)")
        return
    if not role.allows(Role.VIEWER):
        await _refuse(websocket, 403, "the live feed needs the viewer role")
        return
    try:
        wanted = _parse_types(types)
    except ValueError as exc:
        await _refuse(websocket, 422, str(exc))
        return
    cursor = after if after is not None else await anyio.to_thread.run_sync(events_version, store)
    await websocket.accept()
    try:
        while True:
            batch = await anyio.to_thread.run_sync(_read, store, cursor, wanted)
            for event in batch:
                await websocket.send_json(event_message(event))
                cursor = event.id
            if len(batch) < BATCH and await _wait_for_disconnect(websocket, POLL_INTERVAL_S):
                return
    except WebSocketDisconnect:
        return
    finally:
        if websocket.client_state is WebSocketState.CONNECTED:
            await websocket.close()
