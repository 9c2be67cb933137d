"""WS /ws: the live feed, read from the store's append-only event log.

Every message is one audit event as JSON: ``{"id", "type", "ts", "service", "decision_id",
"payload"}``; ids increase monotonically (they are the event log's ids). Connect with
``?after=<last id seen>`` to get everything written since (also by other processes and through other
API replicas: the feed reads the shared event log, see ``api.feed``), or without it to get only what
happens from now on. ``?types=decision,mr`` narrows the feed. Auth: ``Authorization: Bearer <key>``
(role viewer); a refused handshake gets an HTTP 401/403 problem (or close code 1008 where the server
cannot send one). The key is checked again while the connection is open (every ``KEY_RECHECK_S``,
through the key cache that revocations invalidate): once it is revoked the server closes the socket
with code 1008.

The query is checked only after the key: a malformed ``after`` (not a whole number from 0 to
2^63 - 1) or ``types`` from an authenticated client gets an HTTP 422 problem saying what is wrong (or,
where the server cannot send one, close code 1008 with that reason); without a valid key it is a
401/403 whatever the query string holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from swen.api.feed import BATCH, EventFeed
from swen.api.keycache import KeyCache
from swen.api.problems import problem_response
from swen.domain.events import EventType
from swen.domain.keys import Principal, Role
from swen.store.keys import ApiKeyRepository
from swen.store.records import EventRecord
from swen.store.repository import Store

router = APIRouter(tags=["live feed"])

KEY_RECHECK_S = 0.25
"""An open connection checks its key this often (a cache hit, unless the key was invalidated)."""
REVOKED_CLOSE_REASON = "the API key was revoked"
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


def _bearer_key(authorization: str | None) -> str | None:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


async def _principal(websocket: WebSocket, key: str) -> Principal | None:
    """The key's principal through the process's key cache (None: unknown or revoked)."""
    store: Store = websocket.app.state.store
    cache: KeyCache = websocket.app.state.key_cache
    repo = ApiKeyRepository(store)

    def lookup() -> Principal | None:
        record = repo.authenticate(key)
        return None if record is None else Principal(key_id=record.id, name=record.name, role=record.role)

    return await cache.get_or_lookup(key, lookup)


@router.websocket("/ws")
async def live_feed(
    websocket: WebSocket,
    after: Annotated[str | None, Query(description="Last event id the client saw (0 to 2^63 - 1).")] = None,
    types: Annotated[str | None, Query(description="Comma-separated event types.")] = None,
) -> None:
    """Stream events; ``after`` and ``types`` are validated after the key (see the module docstring):
    they are plain strings here so that FastAPI cannot refuse them before authentication."""
    key = _bearer_key(websocket.headers.get("authorization"))
    principal = None if key is None else await _principal(websocket, key)
    if key is None or principal is None:
        await _refuse(websocket, 401, "an API key is required (Authorization: Bearer <key>)")
        return
    if not principal.role.allows(Role.VIEWER):
        await _refuse(websocket, 403, "the live feed needs the viewer role")
        return
    try:
        start = _parse_after(after)
        wanted = _parse_types(types)
    except ValueError as exc:
        await _refuse(websocket, 422, str(exc))
        return
    feed: EventFeed = websocket.app.state.feed
    cursor = start if start is not None else await feed.head()
    await websocket.accept()
    receiver: asyncio.Future[Any] = asyncio.ensure_future(websocket.receive())
    try:
        async with feed.subscription():
            while True:
                batch, cursor = await feed.after(cursor, wanted)
                for event in batch:
                    await websocket.send_json(event_message(event))
                if await _principal(websocket, key) is None:
                    await websocket.close(code=1008, reason=REVOKED_CLOSE_REASON)
                    return
                if len(batch) >= BATCH:
                    continue
                waiter = asyncio.ensure_future(feed.wait(cursor, KEY_RECHECK_S))
                await asyncio.wait({receiver, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if receiver.done():
                    if receiver.result()["type"] == "websocket.disconnect":
                        return
                    receiver = asyncio.ensure_future(websocket.receive())  # client messages are ignored
    except WebSocketDisconnect:
        return
    finally:
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
        if (
            websocket.client_state is WebSocketState.CONNECTED
            and websocket.application_state is WebSocketState.CONNECTED
        ):
            await websocket.close()
