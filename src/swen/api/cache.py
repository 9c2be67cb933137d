"""Rendered responses, re-validated against the store on every request.

A read route gets a cheap *version* of the data it renders (``store.versions``: asked from the
database, the newest sample id or audit event id, or on PostgreSQL learnt from change notifications)
and asks the cache for the body it rendered for the same query at the same version. Any write
anywhere (in this process or another one sharing the database) changes the version: at once when
asked, within ``api_max_staleness_s`` when learnt (the guarantee is in ``store.versions``).
Unchanged data is served without re-reading and re-serialising it.

``get_or_compute`` is single-flight: when a write changes the version, the many requests that miss at
once wait for ONE computation (in a worker thread) instead of each rendering the same page.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import anyio

T = TypeVar("T")


async def single_flight(
    inflight: dict[Hashable, asyncio.Future[T]], flight: Hashable, work: Callable[[], T]
) -> T:
    """``work()`` in a worker thread, run once for all the callers on this event loop that ask for
    ``flight`` while it runs (``inflight`` holds the running ones); a failure reaches every waiter."""
    loop = asyncio.get_running_loop()
    pending = inflight.get(flight)
    if pending is not None and pending.get_loop() is loop:
        return await asyncio.shield(pending)
    future: asyncio.Future[T] = loop.create_future()
    inflight[flight] = future
    try:
        result = await anyio.to_thread.run_sync(work)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nobody else has to
        raise
    finally:
        if inflight.get(flight) is future:
            del inflight[flight]
    future.set_result(result)
    return result


class ResponseCache:
    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Hashable, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[Hashable, asyncio.Future[bytes]] = {}

    async def get_or_compute(self, key: Hashable, version: Hashable, compute: Callable[[], bytes]) -> bytes:
        """The body for ``key`` at ``version``: cached, being computed by another request, or computed
        now by ``compute`` in a worker thread."""
        body = self.get(key, version)
        if body is not None:
            return body

        def compute_and_keep() -> bytes:
            rendered = compute()
            self.put(key, version, rendered)
            return rendered

        return await single_flight(self._inflight, (key, version), compute_and_keep)

    def get(self, key: Hashable, version: Hashable) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, version: Hashable, body: bytes) -> None:
        with self._lock:
            self._entries[key] = (version, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
