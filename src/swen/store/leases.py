"""Leases with fencing tokens: which process holds an elected role, and the check its writes pass.

A lease row (``leases``) names its holder, a fencing token and when it expires on the database's clock.
``acquire`` renews the caller's own lease, or takes over one that has expired (the token then grows by
one and a ``leadership`` audit event records the new term); a live lease of another holder is left
alone. ``check_fence`` runs inside a write transaction of the holder: when the row no longer names
this holder with this token, or the lease has expired, it raises ``FencedError`` and the transaction
writes nothing. On PostgreSQL the check reads the row ``FOR SHARE``, so a takeover (``FOR UPDATE``)
waits for a fenced write in flight to commit and every later write of the old holder is refused. On
SQLite every write transaction is ``BEGIN IMMEDIATE``: one writer at a time, same effect.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Row, event, insert, select, text, update

from swen.domain.errors import FencedError
from swen.domain.events import EventType
from swen.store import audit
from swen.store.db import write_transaction
from swen.store.errors import translated
from swen.store.tables import leases

if TYPE_CHECKING:
    from swen.store.repository import Store

LOCK_TIMEOUT_S = 2
"""PostgreSQL: how long a lease transaction waits for a row or the event lock before giving up."""


@dataclass(frozen=True, slots=True)
class Fence:
    """What a holder's writes are checked against: the lease ``name``, its ``holder`` and ``token``."""

    name: str
    holder: str
    token: int


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    token: int
    expires_at: float
    """Epoch seconds on the database's clock."""

    @property
    def fence(self) -> Fence:
        return Fence(self.name, self.holder, self.token)


def db_now(conn: Connection) -> float:
    """Now on the database's clock (PostgreSQL ``clock_timestamp()``), epoch seconds. SQLite lives on
    one machine: its clock is this machine's."""
    if conn.dialect.name == "postgresql":
        return float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
    return time.time()


def check_fence(conn: Connection, fence: Fence) -> None:
    """Refuse (``FencedError``, nothing written) unless ``fence`` holds its lease right now."""
    row = conn.execute(
        select(leases.c.holder, leases.c.token, leases.c.expires_at)
        .where(leases.c.name == fence.name)
        .with_for_update(read=True)
    ).first()
    if row is None or row.holder != fence.holder or int(row.token) != fence.token:
        now_held = "nobody" if row is None else f"{row.holder} (token {row.token})"
        raise FencedError(
            f"{fence.holder} is no longer the {fence.name} leader (its token {fence.token}; the lease is "
            f"now held by {now_held}): the write was refused",
            hint="this process stands by; the current leader carries the work on",
        )
    if float(row.expires_at) <= db_now(conn):
        raise FencedError(
            f"the {fence.name} lease of {fence.holder} (token {fence.token}) has expired: the write was "
            "refused until it is renewed",
            hint="the lease is renewed in the background; a paused or overloaded process loses it",
        )


def _lease(row: Row[Any]) -> Lease:
    return Lease(str(row.name), str(row.holder), int(row.token), float(row.expires_at))


class LeaseRepository:
    """Leases in the ``leases`` table of one database (an ``sqlalchemy.Engine`` of a Store)."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def current(self, name: str) -> Lease | None:
        with translated("reading a lease"), self._engine.connect() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return None if row is None else _lease(row)

    def acquire(self, name: str, holder: str, ttl_s: float, *, token: int | None = None) -> Lease | None:
        """Renew ``holder``'s lease (``token``: the one it holds), or take the lease over when it is free
        or expired; None when another holder's lease is live. The returned lease's token is the fence."""
        if token is not None:
            renewed = self._renew(name, holder, token, ttl_s)
            if renewed is not None:
                return renewed
        current = self.current(name)
        if current is not None and current.holder != holder:
            with translated("reading the database clock"), self._engine.connect() as conn:
                if current.expires_at > db_now(conn):
                    return None  # another holder's live lease: nothing to lock
        return self._take_over(name, holder, ttl_s)

    def _renew(self, name: str, holder: str, token: int, ttl_s: float) -> Lease | None:
        with translated("renewing a lease"), write_transaction(self._engine, pg_lock_key=None) as conn:
            _lock_timeout(conn)
            now = db_now(conn)
            done = conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder, leases.c.token == token)
                .values(expires_at=now + ttl_s)
            )
            if done.rowcount != 1:
                return None
        return Lease(name, holder, token, now + ttl_s)

    def _take_over(self, name: str, holder: str, ttl_s: float) -> Lease | None:
        lock = {"lock_timeout_s": LOCK_TIMEOUT_S}
        with translated("taking over a lease"), write_transaction(self._engine, **lock) as conn:
            row = conn.execute(select(leases).where(leases.c.name == name).with_for_update()).first()
            now = db_now(conn)
            if row is not None and row.holder != holder and float(row.expires_at) > now:
                return None
            previous = None if row is None else f"{row.holder} (token {row.token})"
            new_token = 1 if row is None else int(row.token) + 1
            values = {"holder": holder, "token": new_token, "expires_at": now + ttl_s, "acquired_at": now}
            if row is None:
                conn.execute(insert(leases).values(name=name, **values))
            else:
                conn.execute(update(leases).where(leases.c.name == name).values(**values))
            payload = {
                "action": "elected",
                "lease": name,
                "holder": holder,
                "token": new_token,
                "previous": previous,
                "ttl_s": ttl_s,
            }
            audit.append(conn, EventType.LEADERSHIP, payload)
        return Lease(name, holder, new_token, now + ttl_s)

    def release(self, fence: Fence) -> bool:
        """Give the lease up at once (a clean shutdown: a standby need not wait for it to expire)."""
        with translated("releasing a lease"), write_transaction(self._engine, pg_lock_key=None) as conn:
            _lock_timeout(conn)
            done = conn.execute(
                update(leases)
                .where(
                    leases.c.name == fence.name,
                    leases.c.holder == fence.holder,
                    leases.c.token == fence.token,
                )
                .values(expires_at=0.0)
            )
        return bool(done.rowcount == 1)


def bound_idle_transactions(engine: Engine, seconds: float) -> None:
    """PostgreSQL: end this engine's sessions that sit idle inside a transaction for ``seconds``
    (``idle_in_transaction_session_timeout``), releasing their locks.

    A leader frozen in the middle of a write transaction (SIGSTOP, a VM pause) holds the event lock
    and its lease row ``FOR SHARE``; without this a standby could not take over until it woke. The
    store's transactions do no waiting of their own between statements, so only a frozen or stuck
    process reaches the limit. Connections already in the pool are replaced."""
    if engine.dialect.name != "postgresql":
        return
    millis = max(1000, int(seconds * 1000))

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET idle_in_transaction_session_timeout = {millis}")
        dbapi_conn.autocommit = autocommit

    event.listen(engine, "connect", on_connect)
    engine.dispose()


def _lock_timeout(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_S}s'")
