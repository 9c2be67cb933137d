"""WS /ws: the live feed, read from the store's append-only event log.

Every message is one audit event as JSON: ``{"id", "type", "ts", "service", "decision_id",
"payload"}``; ids increase monotonically (they are the event log's ids). Connect with
``?after=<last id seen>`` to get everything written since (also by other processes: the feed polls
the shared event log), or without it to get only what happens from now on. ``?types=decision,mr``
narrows the feed. Auth: ``Authorization: Bearer <key>`` (role viewer); a refused handshake gets an
HTTP 401/403 problem (or close code 1008 where the server cannot send one).

The query is checked only after the key: a malformed ``after`` (not a whole number from 0 to
2^63 - 1) or ``types`` from an authenticated client gets an HTTP 422 problem saying what is wrong (or,
where the server cannot send one, close code 1008 with that reason); without a valid key it is a
401/403 whatever the query string holds.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from swen.api.problems import problem_response
from swen.domain.events import EventType
from swen.domain.keys import Role
from swen.store.keys import ApiKeyRepository
from swen.store.reads import events_version
from swen.store.records import EventRecord
from swen.store.repository import Store

router = APIRouter(tags=["live feed"])

POLL_INTERVAL_S = 0.25
BATCH = 500
MAX_EVENT_ID = 2**63 - 1
"""Event ids are 64-bit signed integers."""
MAX_TYPES_LENGTH = 500


def event_message(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "ts": event.ts.isoformat(),
        "service": event.service,
        "decision_id": event.decision_id,
        "payload": event.payload,
    }


def _parse_after(raw: str | None) -> int | None:
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_EVENT_ID):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ValueError(
            f"after={shown!r} must be a whole number from 0 to {MAX_EVENT_ID}: the id of the last event "
            "you saw (leave it out to get only new events)"
        )
    return int(text)


def _parse_types(raw: str | None) -> list[EventType] | None:
    if not raw:
        return None
    if len(raw) > MAX_TYPES_LENGTH:
        raise ValueError(f"types is longer than {MAX_TYPES_LENGTH} characters; list each event type once")
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
    after: Annotated[str | None, Query(description="Last event id the client saw (0 to 2^63 - 1).")] = None,
    types: Annotated[str | None, Query(description="Comma-separated event types.")] = None,
) -> None:
    """Stream events; ``after`` and ``types`` are validated after the key (see the module docstring):
    they are plain strings here so that FastAPI cannot refuse them before authentication."""
    store: Store = websocket.app.state.store
    role = await anyio.to_thread.run_sync(_role_of, store, websocket.headers.get("authorization"))
    if role is None:
        await _refuse(websocket, 401, "an API key is required (Authorization: Bearer <key>)")
        return
    if not role.allows(Role.VIEWER):
        await _refuse(websocket, 403, "the live feed needs the viewer role")
        return
    try:
        start = _parse_after(after)
        wanted = _parse_types(types)
    except ValueError as exc:
        await _refuse(websocket, 422, str(exc))
        return
    cursor = start if start is not None else await anyio.to_thread.run_sync(events_version, store)
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
