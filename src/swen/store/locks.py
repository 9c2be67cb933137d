"""Rows of the ``locks`` table: the primitives of the heartbeated, stale-safe lock in
:mod:`swen.pipeline.lock` (which decides when a holder is stale; this module only reads and writes).

Taking a free lock is one ``INSERT .. ON CONFLICT DO NOTHING``; taking over a stale one is a
compare-and-swap ``UPDATE .. WHERE`` on the exact row judged stale (name, owner and heartbeat), so of
several processes that judged the same row stale only one wins.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import RowMapping, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from swen.store import records
from swen.store.tables import locks

if TYPE_CHECKING:
    from swen.store.repository import Store


@dataclass(frozen=True)
class LockHolder:
    """One row of the ``locks`` table."""

    name: str
    owner: str
    pid: int
    host: str
    acquired_at: datetime
    heartbeat_at: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> LockHolder:
        return records.from_row(cls, row)

    def describe(self) -> str:
        return (
            f"{self.owner} (pid {self.pid} on {self.host}, since {self.acquired_at:%Y-%m-%d %H:%M:%S}Z, "
            f"last heartbeat {self.heartbeat_at:%H:%M:%S}Z)"
        )


def _held_by(name: str, owner: str) -> Any:
    return and_(locks.c.name == name, locks.c.owner == owner)


class LockRows:
    """Reads and writes of lock rows; each call is its own short transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def holder(self, name: str) -> LockHolder | None:
        """The row of lock ``name``, or None when it is free."""
        with self._store.reading(f"reading lock {name!r}") as conn:
            row = conn.execute(select(locks).where(locks.c.name == name)).mappings().first()
        return LockHolder.from_row(row) if row else None

    def insert_if_free(self, holder: LockHolder) -> bool:
        """Insert ``holder``'s row unless the lock has one; True when it was inserted."""
        with self._store.writing(f"taking lock {holder.name!r}") as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            stmt = (
                dialect.insert(locks).values(**asdict(holder)).on_conflict_do_nothing(index_elements=["name"])
            )
            return conn.execute(stmt.returning(locks.c.name)).first() is not None

    def take_over(self, stale: LockHolder, new: LockHolder) -> bool:
        """Replace the row ``stale`` (exactly: same owner and heartbeat) by ``new``; True when swapped."""
        values = asdict(new)
        values.pop("name")
        row = and_(_held_by(stale.name, stale.owner), locks.c.heartbeat_at == stale.heartbeat_at)
        with self._store.writing(f"taking over lock {stale.name!r}") as conn:
            return conn.execute(update(locks).where(row).values(**values)).rowcount == 1

    def beat(self, name: str, owner: str, at: datetime) -> bool:
        """Move the heartbeat of ``owner``'s row to ``at``; False when the row is gone or not theirs."""
        with self._store.writing(f"heartbeat of lock {name!r}") as conn:
            return (
                conn.execute(update(locks).where(_held_by(name, owner)).values(heartbeat_at=at)).rowcount == 1
            )

    def delete(self, name: str, owner: str) -> None:
        """Delete ``owner``'s row of lock ``name`` (nothing when it is not theirs)."""
        with self._store.writing(f"releasing lock {name!r}") as conn:
            conn.execute(delete(locks).where(_held_by(name, owner)))
