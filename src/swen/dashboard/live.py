"""The live feed: the API's WebSocket ``/ws``, read from the last event id the session has seen.

Each poll (one per rerun of the Live Feed tab) connects with ``?after=<last id>``, drains what the
server sends until it is quiet for a moment (never longer than ``max_wait_s`` when nothing is new)
and closes again, so a browser tab that goes away leaves no connection or thread behind; the cursor
makes sure nothing is missed or shown twice between polls. Events go into a bounded buffer (newest
kept). The first poll starts a little before the newest event the dashboard already knows of
(``start_after``) so the feed is not empty on arrival.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from swen.dashboard.client import KEY_HINT, ApiAuthError, ApiUnreachableError, DashboardError
from swen.dashboard.sentences import sentence

BACKLOG = 300
"""Events before the newest known one that a fresh feed starts with."""


@dataclass(frozen=True)
class FeedEvent:
    id: int
    ts: datetime
    type: str
    service: str | None
    decision_id: str | None
    payload: dict[str, Any]

    @classmethod
    def parse(cls, raw: str | bytes) -> FeedEvent | None:
        try:
            body = json.loads(raw)
            return cls(
                id=int(body["id"]), ts=datetime.fromisoformat(body["ts"]), type=str(body["type"]),
                service=body.get("service"), decision_id=body.get("decision_id"),
                payload=body.get("payload") or {},
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def summary(self) -> str:
        """What happened, as a sentence (``swen.dashboard.sentences``)."""
        return sentence(self.type, self.payload)


class LiveFeed:
    """One session's view of ``/ws``: the cursor and the events received so far (newest ``capacity``)."""

    def __init__(self, ws_url: str, key: str | None, *, start_after: int = 0, capacity: int = 2000) -> None:
        self.ws_url = ws_url
        self.key = key
        self.cursor = max(0, start_after)
        self.events: deque[FeedEvent] = deque(maxlen=capacity)

    def _connect(self) -> ClientConnection:
        if not self.key:
            raise ApiAuthError("The dashboard has no API key", hint=KEY_HINT)
        url = f"{self.ws_url}?after={self.cursor}"
        try:
            return connect(
                url, additional_headers={"Authorization": f"Bearer {self.key}"}, open_timeout=5,
                close_timeout=1, proxy=None, max_size=4 * 1024 * 1024,
            )  # fmt: skip
        except InvalidStatus as exc:
            code = exc.response.status_code
            if code in (401, 403):
                raise ApiAuthError(
                    f"The live feed refused the dashboard's key (HTTP {code})", hint=KEY_HINT
                ) from None
            raise DashboardError(f"The live feed answered HTTP {code}", hint="check the API logs") from None
        except (OSError, TimeoutError, WebSocketException):
            raise ApiUnreachableError(
                f"The live feed at {self.ws_url} is not reachable",
                hint="start the API with `swen api` or `swen up`",
            ) from None

    def poll(self, *, max_wait_s: float = 0.25, quiet_s: float = 0.05, max_messages: int = 5000) -> int:
        """Receive what was written since the cursor (up to ``max_messages``); returns how many arrived."""
        received = 0
        with self._connect() as ws, contextlib.suppress(TimeoutError, ConnectionClosed):
            while received < max_messages:
                event = FeedEvent.parse(ws.recv(timeout=max_wait_s if received == 0 else quiet_s))
                if event is not None and event.id > self.cursor:
                    self.events.append(event)
                    self.cursor = event.id
                    received += 1
        return received

    def newest_first(self) -> list[FeedEvent]:
        return list(reversed(self.events))
