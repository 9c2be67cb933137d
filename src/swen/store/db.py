"""Database engine from one URL: SQLite (WAL) by default, PostgreSQL when SWEN_DATABASE_URL is set.

Write transactions that must not interleave (event appends, migrations) use ``write_transaction``:
on SQLite it opens ``BEGIN IMMEDIATE`` (the write lock is taken up front, so a read-then-write never
fails with "database is locked" half-way), on PostgreSQL it takes a transaction-scoped advisory lock.
Plain ``engine.begin()`` / ``engine.connect()`` keep SQLite's deferred transactions, so readers never
wait for writers (WAL).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from swen.domain.errors import StoreError
from swen.store.errors import translated

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

EVENT_LOCK_KEY = 0x5357454E
"""pg_advisory_xact_lock key serialising appends to the hash-chained events table ("SWEN")."""
MIGRATION_LOCK_KEY = 0x5357454D
"""pg_advisory_xact_lock key serialising schema migrations of several processes starting at once."""

WRITE_LOCK_TIMEOUT_S = 30
"""PostgreSQL: how long a serialised write waits for the lock before failing (lock_timeout)."""

MIGRATION_LOCK_TIMEOUT_S = 600
"""PostgreSQL: how long a process waits for another one's schema migration (a backfill can be slow)."""

_IMMEDIATE = "swen_begin_immediate"
SQLITE_BUSY_TIMEOUT_MS = 10_000
"""SQLite's busy timeout: how long one attempt to take a lock waits (pysqlite's ``timeout``)."""
SQLITE_LOCK_WAIT_S = 60.0
"""How long a SQLite write transaction waits for the write lock in all, retrying ``BEGIN IMMEDIATE``
after each busy timeout (see ``_sqlite_write_lock``); then it fails with "database is locked"."""
SQLITE_YIELD_S = 0.11
"""Pause between two write transactions of one long job, a little over the busy handler's longest
poll interval (100 ms), so that a waiting writer gets the lock (``Store.let_other_writers_in``)."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own transaction handling
    # cannot do BEGIN IMMEDIATE); see _sqlite_begin.
    # busy_timeout is already set: pysqlite applies connect(timeout=...) when it opens the file.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    _enable_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _enable_wal(cur: Any) -> None:
    """Switch a new database file to WAL (the mode is stored in the file: later opens only read it).

    Switching needs an exclusive lock and SQLite answers SQLITE_BUSY at once, without the busy
    timeout, when another connection holds the file: several processes opening a fresh database
    together (``swen up``, or the engine and the API starting at once) must retry.
    """
    if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def normalise_url(url: str) -> str:
    """Map ``postgresql://`` (and ``postgres://``) to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def display_url(url: str) -> str:
    """``url`` safe to print or log: the password masked (``***``) and the query string, which may
    carry a password or key paths, dropped. Every place that shows a database URL uses this."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "<unparsable database URL>"
    return parsed.set(query={}).render_as_string(hide_password=True)


def _create_private(path: Path) -> None:
    """Create a new SQLite file owner-only (0600) before SQLite does (it would use 0644 under the usual
    umask); SQLite gives the -wal and -shm files the database file's mode. An existing file is kept."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None: not SQLite, or in memory)."""
    url = normalise_url(url)
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return Path(path) if path and path != ":memory:" and url.count("///") else None


def has_schema(engine: Engine) -> bool:
    """True when SWEN's schema was ever created in this database (Alembic's version table exists)."""
    with translated("checking the database"), engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, create the parent directory, the file (0600) and switch on WAL."""
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                _create_private(Path(path))
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        # an ArgumentError quotes the whole URL, password included: say only what is wrong
        quotes_url = isinstance(exc, ArgumentError) and not isinstance(exc, NoSuchModuleError)
        problem = "not a valid database URL" if quotes_url else str(exc)
        raise StoreError(
            f"cannot open database {display_url(url)!r}: {problem}",
            hint="check SWEN_DATABASE_URL (or that SWEN_HOME is a writable directory)",
        ) from None
    return engine


@contextmanager
def write_transaction(
    engine: Engine, *, pg_lock_key: int | None = EVENT_LOCK_KEY, lock_timeout_s: int = WRITE_LOCK_TIMEOUT_S
) -> Iterator[Connection]:
    """A serialised write transaction: SQLite ``BEGIN IMMEDIATE``; PostgreSQL advisory xact lock.

    Commits when the block ends, rolls back (nothing written) when it raises.
    """
    if engine.dialect.name == "sqlite":
        with _sqlite_write_lock(engine) as conn:
            yield conn
        return
    with engine.connect() as conn, conn.begin():
        if pg_lock_key is not None:
            # Like SQLite's busy_timeout: give up (and roll back) rather than wait forever.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_timeout_s)}s'")
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": pg_lock_key})
        yield conn


def is_locked(exc: BaseException) -> bool:
    """SQLite's SQLITE_BUSY ("database is locked"), as the driver or SQLAlchemy raises it."""
    orig = getattr(exc, "orig", None) or exc
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig).lower()


@contextmanager
def _sqlite_write_lock(engine: Engine, wait_s: float | None = None) -> Iterator[Connection]:
    """A SQLite ``BEGIN IMMEDIATE`` transaction, its lock waited for up to ``SQLITE_LOCK_WAIT_S``.

    SQLite's busy handler polls a held lock every 100 ms for the busy timeout (10 s), then gives up. A
    writer that keeps losing those polls (other writers commit and begin again in between) would fail
    with "database is locked" although the database was never stuck. ``BEGIN IMMEDIATE`` takes the
    write lock before anything is read or written, so trying it again on a fresh connection is always
    safe: this retries it until ``wait_s`` has passed, then raises the driver's error as before.
    """
    deadline = time.monotonic() + (SQLITE_LOCK_WAIT_S if wait_s is None else wait_s)
    while True:
        with engine.connect() as conn:
            conn.execution_options(**{_IMMEDIATE: True})
            try:
                transaction = conn.begin()
            except OperationalError as exc:
                if not is_locked(exc) or time.monotonic() >= deadline:
                    raise
                retry = True
            else:
                retry = False
                with transaction:
                    yield conn
        if not retry:
            return
        time.sleep(0.01)


def upsert(conn: Connection, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET the other columns, on SQLite and PostgreSQL."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={k: getattr(stmt.excluded, k) for k in values if k not in keys},
    )
    conn.execute(stmt)


def insert_rows(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, upsert_keys: Sequence[str] = ()
) -> None:
    """INSERT ``rows`` (all with the same columns of ``table``), with ``upsert_keys`` as :func:`upsert`
    does (ON CONFLICT (keys) DO UPDATE SET the other columns; the keys must then be distinct within
    ``rows``).

    PostgreSQL: one ``INSERT ... SELECT * FROM unnest(<one array per column>)``, whatever the number of
    rows (one statement, one round trip, a fixed text the server can cache). SQLite: one executemany,
    a loop inside the sqlite3 module with no round trips. The values are bound as they are (no column
    type processing): give aware UTC datetimes."""
    if not rows:
        return
    names = list(rows[0])
    if conn.dialect.name != "postgresql":
        stmt = sqlite.insert(table)
        if upsert_keys:
            updated = {k: getattr(stmt.excluded, k) for k in names if k not in upsert_keys}
            stmt = stmt.on_conflict_do_update(index_elements=list(upsert_keys), set_=updated)
        conn.execute(stmt, list(rows))
        return
    arrays = ", ".join(f"CAST(:{n} AS {table.c[n].type.compile(dialect=conn.dialect)}[])" for n in names)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"
    if upsert_keys:
        updated_sql = ", ".join(f"{n} = excluded.{n}" for n in names if n not in upsert_keys)
        sql += f" ON CONFLICT ({', '.join(upsert_keys)}) DO UPDATE SET {updated_sql}"
    conn.execute(text(sql), {n: [row[n] for row in rows] for n in names})


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: newest); idempotent and safe with several processes."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    lock = {"pg_lock_key": MIGRATION_LOCK_KEY, "lock_timeout_s": MIGRATION_LOCK_TIMEOUT_S}
    with translated("schema migration"), write_transaction(engine, **lock) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
