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
from collections.abc import Callable

import anyio

from swen.api.auth import Principal, hash_key

DEFAULT_TTL_S = 2.0
MAX_ENTRIES = 10_000


class KeyCache:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self._inflight: dict[str, asyncio.Future[Principal | None]] = {}

    async def get_or_lookup(self, key: str, lookup: Callable[[], Principal | None]) -> Principal | None:
        """The cached principal, or the result of ``lookup`` (run once in a worker thread for all the
        requests that miss at the same time); a successful lookup is cached."""
        cached = self.get(key)
        if cached is not None:
            return cached
        digest = hash_key(key)
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(digest)
        if pending is not None and pending.get_loop() is loop:
            return await asyncio.shield(pending)
        future: asyncio.Future[Principal | None] = loop.create_future()
        self._inflight[digest] = future
        try:
            principal = await anyio.to_thread.run_sync(lookup)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            if self._inflight.get(digest) is future:
                del self._inflight[digest]
        if principal is not None:
            self.put(key, principal)
        future.set_result(principal)
        return principal

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
