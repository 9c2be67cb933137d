"""Request counts per API key and minute, shared by the API replicas (``swen.api.ratelimit``).

Each replica adds the requests it let through since its last flush and reads back the totals of the
current and the previous minute, in one short transaction; rows older than that are deleted now and
then. The hot path never waits for this: a replica flushes a few times a second in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from swen.store.db import write_transaction
from swen.store.errors import translated
from swen.store.repository import Store
from swen.store.tables import rate_counts

Counts = dict[tuple[str, int], int]
"""(key, window) -> requests; a window is ``int(epoch seconds // 60)``."""


class RateCountRepository:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def add(self, window: int, added: Mapping[str, int], keys: set[str]) -> Counts:
        """Add ``added`` requests per key to ``window``; return the totals of ``keys`` (and of the
        added ones) in ``window`` and ``window - 1``, as every replica counted them."""
        wanted = set(keys) | set(added)
        with translated("sharing request counts"), write_transaction(self._engine, pg_lock_key=None) as conn:
            dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
            for key, n in sorted(added.items()):  # one lock order for every replica
                stmt = dialect.insert(rate_counts).values(key=key, window=window, count=n)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["key", "window"], set_={"count": rate_counts.c.count + n}
                    )
                )
            if not wanted:
                return {}
            pairs = [(k, w) for k in sorted(wanted) for w in (window - 1, window)]
            rows = conn.execute(
                select(rate_counts.c.key, rate_counts.c.window, rate_counts.c.count).where(
                    tuple_(rate_counts.c.key, rate_counts.c.window).in_(pairs)
                )
            ).all()
        return {(str(k), int(w)): int(n) for k, w, n in rows}

    def prune(self, before_window: int) -> int:
        """Delete the counts of windows before ``before_window``."""
        with translated("pruning request counts"), write_transaction(self._engine, pg_lock_key=None) as conn:
            done = conn.execute(delete(rate_counts).where(rate_counts.c.window < before_window))
        return int(done.rowcount or 0)
