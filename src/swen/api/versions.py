"""Cheap "has anything changed?" probes for the response caches, without leaving the event loop.

A cached response is valid while the newest id of the table it renders (``telemetry_samples``,
``events``) is unchanged. Reading that id through SQLAlchemy in a worker thread costs more than the
rest of a cached request, so the probe keeps one connection of its own:

- SQLite: a read-only ``sqlite3`` connection in autocommit mode; ``SELECT max(id)`` on the rowid is a
  few microseconds and runs inline (a WAL reader never waits for writers).
- PostgreSQL: a psycopg ``AsyncConnection`` in autocommit mode, awaited (never blocks the loop),
  reconnected when the event loop changes or the connection breaks. Probes are batched: one query
  reads both ids, and every request that arrives while a query is running joins the NEXT query, which
  starts after it arrived. So each request still sees every write committed before it came in, and
  50 concurrent requests cost a few round trips instead of 50.
- Anything else: the SQLAlchemy query in a worker thread.

Every request still asks the database, so a write by any process is seen by the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any

import anyio
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from swen.domain.errors import StoreError
from swen.store.tables import events, telemetry_samples

_HINT = "is the database reachable? check SWEN_DATABASE_URL"

TABLES = {"telemetry_samples": telemetry_samples, "events": events}
_BOTH_SQL = "SELECT (SELECT max(id) FROM telemetry_samples), (SELECT max(id) FROM events)"


class VersionProbe:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None
        self._pg_loop: asyncio.AbstractEventLoop | None = None
        self._pg_lock: asyncio.Lock | None = None
        self._batch_loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.Future[dict[str, int]] | None = None
        self._drainer: asyncio.Task[None] | None = None

    async def newest_id(self, table: str) -> int:
        """``max(id)`` of ``table`` (0 when empty)."""
        if table not in TABLES:
            raise ValueError(f"no version probe for table {table!r}")
        sql = f"SELECT max(id) FROM {table}"  # table is one of TABLES, never user input
        try:
            if self._dialect == "sqlite":
                return self._sqlite_query(sql)
            if self._dialect == "postgresql":
                return (await self._pg_batched())[table]
            return await anyio.to_thread.run_sync(self._sqlalchemy_query, table)
        except (sqlite3.Error, SQLAlchemyError, OSError) as exc:
            raise StoreError(f"reading the newest {table} id failed: {exc}", hint=_HINT) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise StoreError(f"reading the newest {table} id failed: {exc}", hint=_HINT) from exc
            raise

    def _sqlite_query(self, sql: str) -> int:
        if self._sqlite is None:
            path = self._engine.url.database or ""
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
            conn.execute("PRAGMA query_only=1")
            self._sqlite = conn
        row = self._sqlite.execute(sql).fetchone()
        return int(row[0] or 0)

    async def _pg_batched(self) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        if self._batch_loop is not loop:
            self._batch_loop, self._pending, self._drainer = loop, None, None
        future = self._pending
        if future is None:
            future = self._pending = loop.create_future()
            if self._drainer is None or self._drainer.done():
                self._drainer = loop.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        """Run one query per batch until no request is waiting; a batch closes when its query starts."""
        while self._pending is not None:
            future, self._pending = self._pending, None
            try:
                row = await self._pg_row(_BOTH_SQL)
            except Exception as exc:
                future.set_exception(exc)
                future.exception()  # retrieved: the waiters re-raise it
                continue
            future.set_result({"telemetry_samples": int(row[0] or 0), "events": int(row[1] or 0)})

    async def _pg_row(self, sql: str) -> Any:
        import psycopg

        loop = asyncio.get_running_loop()
        if self._pg is None or self._pg_loop is not loop or self._pg.closed:
            await self._close_pg()
            url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._pg = await psycopg.AsyncConnection.connect(url, autocommit=True)
            self._pg_loop, self._pg_lock = loop, asyncio.Lock()
        assert self._pg_lock is not None
        try:
            async with self._pg_lock:
                cur = await self._pg.execute(sql)
                row = await cur.fetchone()
        except psycopg.Error:
            await self._close_pg()
            raise
        return row

    def _sqlalchemy_query(self, table: str) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.max(TABLES[table].c.id))).scalar_one() or 0)

    async def _close_pg(self) -> None:
        pg, self._pg = self._pg, None
        if pg is not None and not pg.closed:
            with contextlib.suppress(Exception):  # a broken connection may fail to close; it is gone
                await pg.close()

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pg is not None and not self._pg.closed and self._pg_loop is not None:
            if self._pg_loop.is_running():
                self._pg_loop.create_task(self._close_pg())
            else:
                self._pg = None
