"""Rendered responses, re-validated against the store on every request.

A read route computes a cheap *version* of the data it renders (the newest sample id, the newest
audit event id: one indexed lookup each) and asks the cache for the body it rendered for the same
query at the same version. Any write anywhere (in this process or another one sharing the database)
changes the version, so a stale body is never served; unchanged data is served without re-reading
and re-serialising it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class ResponseCache:
    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Hashable, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, version: Hashable) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, version: Hashable, body: bytes) -> None:
        with self._lock:
            self._entries[key] = (version, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
