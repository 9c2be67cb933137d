"""The one translation of database errors into ``StoreError``, with a hint that says what to check.

Every store module reads and writes inside ``translated("what it was doing")``: SQLAlchemy errors,
and the raw driver errors of the paths that talk to sqlite3 or psycopg directly (the telemetry COPY,
the version probe), become ``StoreError("<what> failed: <driver message>", hint=...)``. Errors SWEN
raises on purpose (``SwenError``) pass through unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from swen.domain.errors import StoreError


def is_database_error(exc: BaseException) -> bool:
    """SQLAlchemy, sqlite3 or psycopg raised it (psycopg is recognised without importing it)."""
    if isinstance(exc, SQLAlchemyError | sqlite3.Error):
        return True
    return isinstance(exc, Exception) and type(exc).__module__.startswith("psycopg")


def hint_for(exc: BaseException) -> str:
    """What to check, from the driver's message."""
    text = str(exc).lower()
    if "locked" in text or "lock timeout" in text or "deadlock" in text:
        return (
            "another writer held the database lock too long; retry. If this process has a write "
            "transaction open, append inside it (Store.transaction() and append_event(conn=...))"
        )
    if "no such table" in text or "does not exist" in text or "undefined" in text:
        return "the schema is missing or old; open the store once with migrate=True (every swen command does)"
    if "connect" in text or "connection" in text:
        return "is the database reachable? check SWEN_DATABASE_URL"
    return "check the database (SWEN_DATABASE_URL) and the server log"


def translate(what: str, exc: BaseException) -> StoreError:
    """The StoreError for a database error raised while doing ``what``."""
    detail = getattr(exc, "orig", None) or exc
    return StoreError(f"{what} failed: {detail}", hint=hint_for(exc))


@contextmanager
def translated(what: str, *, also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Re-raise a database error (or one of ``also``) from the block as ``StoreError("<what> failed")``."""
    try:
        yield
    except Exception as exc:
        if not (is_database_error(exc) or isinstance(exc, also)):
            raise
        raise translate(what, exc) from exc
