"""Cheap "has anything changed?" probes for the response caches, without leaving the event loop.

A cached response is valid while the newest id of the table it renders (``telemetry_samples``,
``events``) is unchanged. Reading that id through SQLAlchemy in a worker thread costs more than the
rest of a cached request, so the probe keeps one connection of its own:

- SQLite: a read-only ``sqlite3`` connection in autocommit mode; ``SELECT max(id)`` on the rowid is a
  few microseconds and runs inline (a WAL reader never waits for writers).
- PostgreSQL: psycopg ``AsyncConnection``s in autocommit mode, awaited (never blocks the loop).
  Probes are batched: one query reads both ids, and every request that arrives before a batch's query
  starts joins that batch. A batch closes when its query starts, so each request still sees every
  write committed before it came in; up to ``PG_CONNECTIONS`` batches run at once (a slow round trip
  does not hold the next batch back), and 50 concurrent requests cost a few queries instead of 50.
- Anything else: the SQLAlchemy query in a worker thread.

Asked this way, a write by any process is seen by the next request. On PostgreSQL that round trip is
most of a cached request's time, so the API learns about writes instead (``version``):
:class:`NotifiedVersions` counts the ``swen_changes`` notifications that triggers send on every
commit that changes a topic's tables (migration 0011), and its listener's heartbeat (``store.notify``)
proves how recent that knowledge is. The guarantee, per request:

- While the listener is connected and its last heartbeat was sent at most ``max_lag_s`` before the
  request arrived, the version is the notification count: the reply reflects every write that
  committed before that heartbeat, so every write that completed ``max_lag_s`` or more before the
  request arrived, on every replica, and every write made through this replica (``wrote``: the
  replica asks until a heartbeat sent after its last write has come back); in practice every write
  whose notification arrived (handled within a millisecond of its commit at the median, 35 ms at the
  99th percentile on a 2-core machine at load 14, see docs/BENCHMARKS.md).
- Otherwise (starting, listener down or reconnecting, heartbeat late because the process or the
  database is overloaded), the request asks the database as above: nothing older than the request.
- A (re)connection starts a new generation, so nothing cached before a gap in the notifications is
  served after it.

The API uses this only with ``api_max_staleness_s > 0`` (the default); 0 keeps the strict behaviour
(every request asks).

Three more topics have no cheap probe to ask (``LEARNT_ONLY``: the fleet's specs, the placements, the
rollups; migration 0014): :meth:`VersionProbe.known` gives their version only when it is learnt as
above, and None otherwise, meaning "read the data itself" (SQLite, starting, listener down, lagging,
after this replica's write). The API keeps what the Cost Analysis reads from them in memory by that
version (``swen.api.memo``), with the same guarantee.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import anyio
from sqlalchemy import Engine, func, select

from swen.store.errors import translated
from swen.store.tables import events, telemetry_samples

TABLES = {"telemetry_samples": telemetry_samples, "events": events}
LEARNT_ONLY = ("services", "placements", "rollups")
"""Topics known only from notifications (migration 0014): no ``max(id)`` to ask."""
_BOTH_SQL = "SELECT (SELECT max(id) FROM telemetry_samples), (SELECT max(id) FROM events)"
PG_CONNECTIONS = 3


class _PgBatcher:
    """Batched probes on one event loop over at most ``PG_CONNECTIONS`` connections."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self.loop = loop
        self.pending: asyncio.Future[dict[str, int]] | None = None
        self.slots = asyncio.Semaphore(PG_CONNECTIONS)
        self.idle: list[Any] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def newest(self) -> dict[str, int]:
        future = self.pending
        if future is None:
            future = self.pending = self.loop.create_future()
            task = self.loop.create_task(self._run())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await asyncio.shield(future)

    async def _run(self) -> None:
        async with self.slots:
            await asyncio.sleep(0)  # requests ready in this loop iteration still join the batch
            future, self.pending = self.pending, None
            if future is None:
                return
            try:
                row = await self._query()
            except Exception as exc:
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters re-raise it
                return
            future.set_result({"telemetry_samples": int(row[0] or 0), "events": int(row[1] or 0)})

    async def _query(self) -> Any:
        import psycopg

        conn = (
            self.idle.pop() if self.idle else await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        )
        try:
            cur = await conn.execute(_BOTH_SQL)
            row = await cur.fetchone()
        except psycopg.Error:
            conn.pgconn.finish()  # a broken connection is dropped, the next batch opens a new one
            raise
        self.idle.append(conn)
        return row

    def close(self) -> None:
        """Close the idle connections without awaiting (works from any thread or loop)."""
        while self.idle:
            self.idle.pop().pgconn.finish()


class NotifiedVersions:
    """Per-topic change counts fed by the notification listener's thread, read by request handlers.

    ``changed(topic)`` on every ``swen_changes`` notification, ``listening(up)`` on every
    (re)connection and loss, ``synced(sent_at)`` after every heartbeat; ``current(topic)`` is the
    version to cache by, or None when the knowledge is not fresh enough (then ask the database)."""

    def __init__(self, max_lag_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_lag_s <= 0:
            raise ValueError("max_lag_s must be positive (0 means: do not use notifications)")
        self.max_lag_s = max_lag_s
        self._clock = clock
        self._counts = dict.fromkeys([*TABLES, *LEARNT_ONLY], 0)
        self._generation = 0
        self._synced_at: float | None = None
        self._written_at: float | None = None
        self._lock = threading.Lock()

    def changed(self, topic: str) -> None:
        with self._lock:
            if topic in self._counts:
                self._counts[topic] += 1
            else:  # a topic this version does not know: treat it as a change of everything
                for name in self._counts:
                    self._counts[name] += 1

    def listening(self, up: bool) -> None:
        """(Re)connected or lost: notifications may have been missed, start a new generation and
        wait for the first heartbeat."""
        with self._lock:
            self._generation += 1
            self._synced_at = None

    def synced(self, sent_at: float) -> None:
        with self._lock:
            if self._synced_at is None or sent_at > self._synced_at:
                self._synced_at = sent_at

    def wrote(self) -> None:
        """This process just completed a write request: until a heartbeat sent after now has come
        back (its notifications are then counted), requests ask the database. A client therefore
        reads its own writes on the replica it wrote through, with no staleness at all."""
        with self._lock:
            self._written_at = self._clock()

    def current(self, topic: str) -> tuple[int, int] | None:
        """(generation, changes of ``topic``), or None when not synced within ``max_lag_s`` or not
        since this process's last write."""
        with self._lock:
            synced = self._synced_at
            if synced is None or self._clock() - synced > self.max_lag_s:
                return None
            if self._written_at is not None and synced < self._written_at:
                return None
            return self._generation, self._counts[topic]


class VersionProbe:
    def __init__(self, engine: Engine, *, notified: NotifiedVersions | None = None) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._sqlite: sqlite3.Connection | None = None
        self._pg: _PgBatcher | None = None
        self.notified = notified
        """Set (by the API, on PostgreSQL with the change triggers) to learn versions from
        notifications instead of asking on every request."""
        self.asked = 0
        self.learnt = 0
        """Versions read from the database / from notifications (for tests and the benchmark)."""

    async def version(self, table: str) -> Hashable:
        """The version of ``table``'s data to cache a rendered page by: learnt from notifications
        when they are fresh (see the module docstring), else asked from the database."""
        if table not in TABLES:
            raise ValueError(f"no version for table {table!r}")
        notified = self.notified
        if notified is not None:
            current = notified.current(table)
            if current is not None:
                self.learnt += 1
                return ("notified", *current)
        self.asked += 1
        return ("asked", await self.newest_id(table))

    def known(self, topic: str) -> Hashable | None:
        """The version of ``topic``'s data learnt from notifications, or None when it is not known
        fresh enough (see the module docstring): then the caller reads the data itself. Never asks
        the database, so a handler in a worker thread can call it."""
        if topic not in TABLES and topic not in LEARNT_ONLY:
            raise ValueError(f"no version for topic {topic!r}")
        notified = self.notified
        current = None if notified is None else notified.current(topic)
        if current is None:
            return None
        self.learnt += 1
        return ("notified", *current)

    async def newest_id(self, table: str) -> int:
        """``max(id)`` of ``table`` (0 when empty)."""
        if table not in TABLES:
            raise ValueError(f"no version probe for table {table!r}")
        sql = f"SELECT max(id) FROM {table}"  # table is one of TABLES, never user input
        with translated(f"reading the newest {table} id", also=(OSError,)):
            if self._dialect == "sqlite":
                return self._sqlite_query(sql)
            if self._dialect == "postgresql":
                return (await self._batcher().newest())[table]
            return await anyio.to_thread.run_sync(self._sqlalchemy_query, table)

    def _sqlite_query(self, sql: str) -> int:
        if self._sqlite is None:
            path = self._engine.url.database or ""
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            conn.execute("PRAGMA query_only=1")
            self._sqlite = conn
        row = self._sqlite.execute(sql).fetchone()
        return int(row[0] or 0)

    def _batcher(self) -> _PgBatcher:
        """The batcher of the running event loop (a new loop, e.g. in tests, gets new connections)."""
        loop = asyncio.get_running_loop()
        if self._pg is None or self._pg.loop is not loop:
            if self._pg is not None:
                self._pg.close()
            url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._pg = _PgBatcher(url, loop)
        return self._pg

    def _sqlalchemy_query(self, table: str) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.max(TABLES[table].c.id))).scalar_one() or 0)

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None:
            self._pg.close()
            self._pg = None
