"""Change notifications between processes: PostgreSQL LISTEN/NOTIFY, nothing on SQLite.

Writers call :func:`notify` inside their write transaction: PostgreSQL delivers the notification to
every listening session when (and only if) the transaction commits. Two channels:

- ``swen_events``: an audit event was appended (payload: its id). The API's live feed wakes at once
  instead of waiting for its next poll.
- ``swen_keys``: an API key was revoked (payload: its id). Every API replica drops the key from its
  cache, so the key is refused everywhere within milliseconds.
- ``swen_changes``: a statement changed a table a cached API page renders (payload: the version topic,
  ``telemetry_samples`` or ``events``; since migration 0014 also ``services``, ``placements`` and
  ``rollups``, what the API keeps in memory for the Cost Analysis). Sent by triggers (migrations 0011
  and 0014), so every writer is covered, also one that is not SWEN; see ``swen.store.versions``.

A :class:`Listener` is one psycopg connection per process in autocommit mode, read by a daemon thread.
Notifications sent while it is disconnected are lost, so it reports each (re)connection and each loss
(``on_state(True|False)``): the API then drops its caches and, while it is down, falls back to short
TTLs and polling. SQLite has no notifications: callers use short TTLs and polling there.

With ``heartbeat_s`` the listener also makes a round trip (``SELECT 1``) on its connection every
``heartbeat_s`` and then reports ``on_sync(sent_at)``: PostgreSQL sends a session its pending
notifications before it answers a query, so by then every notification of a transaction that committed
before ``sent_at`` (a ``time.monotonic()`` reading) has been handled. That is what bounds how late a
change can be learnt (``swen.store.versions.NotifiedVersions``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, text

_log = logging.getLogger(__name__)

EVENTS_CHANNEL = "swen_events"
KEYS_CHANNEL = "swen_keys"
CHANGES_CHANNEL = "swen_changes"
CHANGE_TRIGGERS = (
    "swen_notify_telemetry_samples",
    "swen_notify_telemetry_latest",
    "swen_notify_events",
    "swen_notify_decisions",
    "swen_notify_services",
    "swen_notify_placements",
    "swen_notify_telemetry_rollups",
    "swen_notify_telemetry_rollups_6h",
    "swen_notify_telemetry_provider_rollups",
)
"""The triggers that notify CHANGES_CHANNEL (migrations 0011 and 0014)."""
RECONNECT_S = 0.5
APPLICATION_NAME = "swen-listener"
"""The listener's session in ``pg_stat_activity``."""
IDLE_WAIT_S = 1.0


def notify(conn: Connection, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` when ``conn``'s transaction commits (PostgreSQL; else nothing)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


def supports_notify(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def has_change_triggers(engine: Engine) -> bool:
    """Whether every CHANGE_TRIGGERS trigger exists (PostgreSQL at migration 0011 or later)."""
    if not supports_notify(engine):
        return False
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT count(DISTINCT tgname) FROM pg_trigger WHERE tgname = ANY(:names)"),
            {"names": list(CHANGE_TRIGGERS)},
        ).scalar_one()
    return int(found) == len(CHANGE_TRIGGERS)


class Listener:
    """LISTEN on ``handlers``' channels in a daemon thread; each handler gets the payload (a string).

    Handlers run in the listener's thread and must be quick (drop a cache entry, wake a loop)."""

    def __init__(
        self,
        engine: Engine,
        handlers: Mapping[str, Callable[[str], None]],
        *,
        on_state: Callable[[bool], None] | None = None,
        heartbeat_s: float | None = None,
        on_sync: Callable[[float], None] | None = None,
    ) -> None:
        if not supports_notify(engine):
            raise ValueError("LISTEN/NOTIFY needs PostgreSQL")
        if heartbeat_s is not None and heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be positive")
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._handlers = dict(handlers)
        self._on_state = on_state or (lambda _up: None)
        self._heartbeat_s = heartbeat_s
        self._on_sync = on_sync or (lambda _sent_at: None)
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

    def _sync(self, conn: Any) -> None:
        """One round trip, then the notifications that came with it, then ``on_sync``."""
        sent_at = time.monotonic()
        conn.execute("SELECT 1")
        for message in conn.notifies(timeout=0):  # received during the round trip: handled first
            self._dispatch(message.channel, message.payload)
        self._on_sync(sent_at)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, application_name=APPLICATION_NAME) as conn:
                    self._conn = conn
                    for channel in self._handlers:
                        conn.execute(f'LISTEN "{channel}"')
                    self.connected.set()
                    self._on_state(True)
                    while not self._stop.is_set():
                        if self._heartbeat_s is not None:
                            self._sync(conn)
                        for message in conn.notifies(timeout=self._heartbeat_s or IDLE_WAIT_S):
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
