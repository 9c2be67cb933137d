"""Per-key rate limit shared by every API replica: a token bucket per key, charged for the requests of
the other replicas too.

A key may burst up to ``per_minute`` requests and then gets ``per_minute`` per minute, whichever replica
serves it. The decision stays in the process (no database round trip on the hot path): each replica
counts the requests it lets through and, a few times a second (``FLUSH_S``, in a worker thread),
adds them to the shared counts in the store (``store.ratecounts``: per key and minute) and reads back
the totals. What the other replicas let through since the last flush is then taken from this
replica's bucket, which may go below zero (the key waits longer). So a key gets ``per_minute`` in all
and not ``replicas x per_minute``; the bound is loose only by what the other replicas let through
within one flush interval (at most ``replicas x FLUSH_S`` worth of requests).

Without a store (``flush`` never called), the limiter is the plain per-process bucket.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from swen.domain.errors import SwenError
from swen.store.ratecounts import Counts, RateCountRepository
from swen.store.repository import Store

_log = logging.getLogger(__name__)

FLUSH_S = 0.25
"""How often a replica shares its counts while it serves requests."""
WINDOW_S = 60
PRUNE_EVERY = 240
"""Flushes between deletions of old count rows (about a minute)."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.capacity = float(per_minute)
        self.rate_per_s = per_minute / 60.0
        self._clock = clock
        self._wall = wall
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._pending: Counts = defaultdict(int)  # let through here, not yet shared
        self._seen: Counts = {}  # shared totals at the last flush
        self._flushing = threading.Lock()
        self._last_flush = float("-inf")
        self._flushes = 0

    def acquire(self, key: str) -> float | None:
        """Take one token for ``key``; None when allowed, else the seconds until a token is free."""
        now = self._clock()
        with self._lock:
            bucket = self._refilled(key, now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                self._pending[(key, int(self._wall() // WINDOW_S))] += 1
                return None
            return (1.0 - bucket.tokens) / self.rate_per_s

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        return bucket

    # --- sharing -----------------------------------------------------------------------------
    def flush_due(self) -> bool:
        """True at most once per FLUSH_S while there are counts to share; the caller then runs
        ``flush``. (Claimed here, not when the flush starts in its worker thread: otherwise every
        request until then sent another flush to the thread pool, about 70 a second under load.)"""
        now = self._clock()
        with self._lock:
            if not self._pending or now - self._last_flush < FLUSH_S:
                return False
            self._last_flush = now
            return True

    def flush(self, store: Store) -> None:
        """Share this replica's counts and charge each bucket for the other replicas' requests since
        the last flush. Runs in a worker thread; one at a time; a database error is logged and the
        counts are kept for the next flush (the local bucket limits meanwhile)."""
        if not self._flushing.acquire(blocking=False):
            return
        try:
            self._last_flush = self._clock()
            window = int(self._wall() // WINDOW_S)
            with self._lock:
                taken, self._pending = dict(self._pending), defaultdict(int)
            by_window: dict[int, dict[str, int]] = defaultdict(dict)
            for (k, w), n in taken.items():
                by_window[w][k] = n
            keys = {k for (k, _w) in taken} | {k for (k, _w) in self._seen}
            repo = RateCountRepository(store)
            try:
                for w, added in by_window.items():
                    if w != window:  # let through just before the minute turned
                        repo.add(w, added, set())
                totals = repo.add(window, by_window.get(window, {}), keys)
                self._flushes += 1
                if self._flushes % PRUNE_EVERY == 0:
                    repo.prune(window - 1)
            except SwenError as exc:
                _log.warning("rate limit: sharing counts failed (%s); limiting per replica meanwhile", exc)
                with self._lock:
                    for kw, n in taken.items():
                        self._pending[kw] += n
                return
            self._charge(totals, taken, window)
        finally:
            self._flushing.release()

    def _charge(self, totals: Counts, mine: Counts, window: int) -> None:
        others: dict[str, int] = defaultdict(int)
        for (key, w), total in totals.items():
            before = self._seen.get((key, w))
            if before is None and w < window:
                continue  # a past minute this replica never looked at: too old to charge
            others[key] += total - (before or 0) - mine.get((key, w), 0)
        self._seen = {kw: c for kw, c in totals.items() if kw[1] >= window - 1}
        now = self._clock()
        with self._lock:
            for key, n in others.items():
                if n > 0:
                    self._refilled(key, now).tokens -= n
