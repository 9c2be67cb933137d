"""A short-lived, per-process cache of authenticated keys (hash -> principal).

Looking a key up costs a database round trip on every request; caching a *successful* lookup for
``ttl_s`` seconds takes that off the hot path. The price is that a key revoked in the store keeps
working in an API process for at most ``ttl_s`` (default 2 s) after it was last looked up there.
Unknown or revoked keys are never cached, so a new key works at once and a wrong one always costs a
lookup. Keys are held only as SHA-256 hashes.

Lookups are single-flight: when an entry expires under load, the requests that miss at once share
one store lookup instead of each sending its own (which would show up as a latency spike every TTL).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Hashable

from swen.api.cache import single_flight
from swen.domain.keys import Principal, hash_key

DEFAULT_TTL_S = 2.0
MAX_ENTRIES = 10_000


class KeyCache:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self._inflight: dict[Hashable, asyncio.Future[Principal | None]] = {}

    async def get_or_lookup(self, key: str, lookup: Callable[[], Principal | None]) -> Principal | None:
        """The cached principal, or the result of ``lookup`` (run once in a worker thread for all the
        requests that miss at the same time); a successful lookup is cached."""
        cached = self.get(key)
        if cached is not None:
            return cached

        def lookup_and_keep() -> Principal | None:
            principal = lookup()
            if principal is not None:
                self.put(key, principal)
            return principal

        return await single_flight(self._inflight, hash_key(key), lookup_and_keep)

    def get(self, key: str) -> Principal | None:
        digest = hash_key(key)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, key: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[hash_key(key)] = (self._clock() + self.ttl_s, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
