"""Change notifications between processes: PostgreSQL LISTEN/NOTIFY, nothing on SQLite.

Writers call :func:`notify` inside their write transaction: PostgreSQL delivers the notification to
every listening session when (and only if) the transaction commits. Two channels:

- ``swen_events``: an audit event was appended (payload: its id). The API's live feed wakes at once
  instead of waiting for its next poll.
- ``swen_keys``: an API key was revoked (payload: its id). Every API replica drops the key from its
  cache, so the key is refused everywhere within milliseconds.

A :class:`Listener` is one psycopg connection per process in autocommit mode, read by a daemon thread.
Notifications sent while it is disconnected are lost, so it reports each (re)connection and each loss
(``on_state(True|False)``): the API then drops its caches and, while it is down, falls back to short
TTLs and polling. SQLite has no notifications: callers use short TTLs and polling there.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, text

_log = logging.getLogger(__name__)

EVENTS_CHANNEL = "swen_events"
KEYS_CHANNEL = "swen_keys"
RECONNECT_S = 0.5


def notify(conn: Connection, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` when ``conn``'s transaction commits (PostgreSQL; else nothing)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


def supports_notify(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class Listener:
    """LISTEN on ``handlers``' channels in a daemon thread; each handler gets the payload (a string).

    Handlers run in the listener's thread and must be quick (drop a cache entry, wake a loop)."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Callable[[str], None]],
        *,
        on_state: Callable[[bool], None] | None = None,
    ) -> None:
        if not supports_notify(engine):
            raise ValueError("LISTEN/NOTIFY needs PostgreSQL")
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._handlers = dict(handlers)
        self._on_state = on_state or (lambda _up: None)
        self._stop = threading.Event()
        self._conn: Any = None
        self.connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name="swen-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection may fail to close; it is going anyway
                conn.close()  # ends a notifies() generator blocked in the thread
        self._thread.join(timeout=5)

    def _dispatch(self, channel: str, payload: str) -> None:
        handler = self._handlers.get(channel)
        if handler is None:
            return
        try:
            handler(payload)
        except Exception:  # a handler's bug must not end the listening
            _log.exception("handling a %s notification failed", channel)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    self._conn = conn
                    for channel in self._handlers:
                        conn.execute(f'LISTEN "{channel}"')
                    self.connected.set()
                    self._on_state(True)
                    while not self._stop.is_set():
                        for message in conn.notifies(timeout=1.0):
                            self._dispatch(message.channel, message.payload)
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    _log.warning("change notifications interrupted (%s); reconnecting", exc)
            finally:
                self._conn = None
                if self.connected.is_set():
                    self.connected.clear()
                    self._on_state(False)
            self._stop.wait(RECONNECT_S)
