"""Values the API keeps in memory between requests, each valid at one data version.

The response cache (``api.cache``) keeps rendered bodies; this keeps the inputs a route reads that
rarely change while the rest of its reply does: the 30-day Cost Analysis reads the whole fleet, every
placement and a month of rollups (the Cost Analysis at 10,000 services: 0.5 s, 0.1 s and 0.8 s of a
2 s reply) although only the newest samples change every tick. Each value is kept with the version of
the data it was read at (``store.versions.VersionProbe.known``: learnt from PostgreSQL's change
notifications, with the guarantee written there) and served only while that version is current. A
version of None means the data's version is not known well enough (SQLite, the listener starting or
down, a lagging heartbeat, a write through this replica not yet confirmed): the value is read then,
and not kept.

Reads happen in the route's worker thread; concurrent misses of one key compute it once (the others
wait for it), so a burst of requests after a change does not read the fleet ten times.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

MAX_ENTRIES = 32


def joint(versions: Sequence[Hashable | None]) -> Hashable | None:
    """The version of a value read from several topics: all of theirs, or None when one is unknown."""
    if any(v is None for v in versions):
        return None
    return tuple(versions)


class Memo:
    """Thread-safe ``key -> (version, value)``, least recently used entries dropped past
    ``max_entries``. Values are shared between requests: keep only immutable ones (frozen models,
    tuples, or containers nobody mutates)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0
        """Reads served from memory / computed (tests and benchmarks)."""

    def get(self, key: Hashable, version: Hashable | None, compute: Callable[[], T]) -> T:
        """The value of ``key`` at ``version``: kept, or ``compute()``d now (and kept when ``version``
        is not None)."""
        if version is None:
            with self._lock:
                self.misses += 1
            return compute()
        found, value = self._lookup(key, version)
        if found:
            return value  # type: ignore[no-any-return]
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            found, value = self._lookup(key, version)  # computed by another thread meanwhile
            if found:
                return value  # type: ignore[no-any-return]
            fresh = compute()
            with self._lock:
                self.misses += 1
                self._entries[key] = (version, fresh)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    dropped, _ = self._entries.popitem(last=False)
                    self._computing.pop(dropped, None)
            return fresh

    def _lookup(self, key: Hashable, version: Hashable) -> tuple[bool, Any]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return False, None
            self._entries.move_to_end(key)
            self.hits += 1
            return True, entry[1]
