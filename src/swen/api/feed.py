"""One reader of the audit log per API process, shared by every ``/ws`` connection.

Before, each connection polled the store every 0.25 s; now one poller per event loop reads what is
new (``events_after`` the newest id it has) into a bounded buffer of recent events and wakes the
connections, which serve themselves from the buffer (or from the store when they are further
behind than the buffer reaches, e.g. resuming with an old ``after``). Idle connections cost no query.

The poller wakes on a PostgreSQL notification (``swen_events``, sent when an event is committed by
any process, see ``store.notify``) and otherwise every ``poll_s``: 0.25 s without notifications
(SQLite, or while the listener is down), 2 s as a safety net while it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

import anyio

from swen.domain.events import EventType
from swen.store.reads import events_version
from swen.store.records import EventRecord
from swen.store.repository import Store

BATCH = 500
RECENT = 5000
"""Events kept in memory for the connections (about a few minutes of a busy platform)."""
POLL_S = 0.25
LISTENING_POLL_S = 2.0


@dataclass
class _LoopFeed:
    """The poller of one event loop (uvicorn has one; a test client may start several)."""

    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    task: asyncio.Task[None] | None = None
    subscribers: int = 0


class EventFeed:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.poll_s = POLL_S
        self.reads = 0
        """Store reads the poller made (for tests and the benchmark)."""
        self._recent: deque[EventRecord] = deque(maxlen=RECENT)
        self._head: int | None = None
        self._feeds: dict[asyncio.AbstractEventLoop, _LoopFeed] = {}

    # --- called from other threads -----------------------------------------------------------
    def notified(self, _payload: str = "") -> None:
        """An event was committed somewhere (the notification listener's thread)."""
        for feed in list(self._feeds.values()):
            with contextlib.suppress(RuntimeError):  # that loop has closed
                feed.loop.call_soon_threadsafe(feed.wake.set)

    def listening(self, up: bool) -> None:
        self.poll_s = LISTENING_POLL_S if up else POLL_S
        self.notified()

    # --- connections -------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def subscription(self) -> AsyncIterator[None]:
        feed = self._feed()
        feed.subscribers += 1
        try:
            yield
        finally:
            feed.subscribers -= 1

    async def head(self) -> int:
        """The newest event id (read from the store when the poller has not read yet)."""
        if self._head is None:
            self._head = await anyio.to_thread.run_sync(events_version, self.store)
        return self._head

    async def after(self, cursor: int, wanted: Collection[EventType] | None) -> tuple[list[EventRecord], int]:
        """Up to BATCH events after ``cursor`` (of the ``wanted`` types) and the cursor to go on from."""
        head = await self.head()
        if cursor >= head:
            return [], cursor
        recent = self._recent
        if recent and recent[0].id <= cursor + 1:
            out = [e for e in recent if e.id > cursor and (wanted is None or e.type in wanted)]
            if len(out) > BATCH:
                return out[:BATCH], out[BATCH - 1].id
            return out, head
        batch = await anyio.to_thread.run_sync(self._read, cursor, wanted)
        if len(batch) == BATCH:
            return batch, batch[-1].id
        return batch, max([head, *(e.id for e in batch)])

    async def wait(self, cursor: int, timeout: float) -> None:
        """Return when an event newer than ``cursor`` is known, or after ``timeout``."""
        feed = self._feed()
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation, and then
        # the server's shutdown waits forever for this task
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), feed.changed:
                await feed.changed.wait_for(lambda: (self._head or 0) > cursor)

    # --- the poller --------------------------------------------------------------------------
    def _feed(self) -> _LoopFeed:
        loop = asyncio.get_running_loop()
        feed = self._feeds.get(loop)
        if feed is None:
            for old in [lp for lp in self._feeds if lp.is_closed()]:
                del self._feeds[old]
            feed = self._feeds[loop] = _LoopFeed(loop)
        if feed.task is None or feed.task.done():
            feed.task = loop.create_task(self._poll(feed))
        return feed

    async def _poll(self, feed: _LoopFeed) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await feed.wake.wait()
            feed.wake.clear()
            if feed.subscribers == 0:
                continue
            try:
                await self._read_new()
            except Exception:  # a failed read is retried at the next wake
                continue
            async with feed.changed:
                feed.changed.notify_all()

    async def _read_new(self) -> None:
        head = await self.head()
        for _ in range(4):  # at most a few batches per wake; the rest at the next one
            batch = await anyio.to_thread.run_sync(self._read, head, None)
            self.reads += 1
            if not batch:
                return
            self._recent.extend(batch)
            head = self._head = max(head, batch[-1].id)
            if len(batch) < BATCH:
                return

    def _read(self, cursor: int, wanted: Collection[EventType] | None) -> list[EventRecord]:
        return self.store.events_after(cursor, limit=BATCH, types=wanted)
