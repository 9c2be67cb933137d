"""When the telemetry loops run the store's maintenance (partitions ahead, rollups, retention with
archives: ``store/maintenance.py``): at most once per :data:`PURGE_EVERY_S` of the loop's clock.

On a real-time clock (the simulator at speed 1 or slower, and Prometheus) a pass runs on a thread of
its own, so the roll-up of an hour at a large fleet (79 million raw samples at 10,000 services and the
5 s interval) never holds the ticks back. A pass still running when the next one is due is skipped
(logged): the next pass rolls up every closed hour the skipped one would have, up to
``maintenance.ROLLUP_HOURS_PER_PASS``. The first pass always runs in the loop, before the first tick, as
before. An accelerated simulator keeps every pass in the loop: its simulated hours pass in seconds, and
each of them must see its maintenance (retention drops a day once the clock passes it).

A failed pass fails the loop as an inline one does: raised at the next pass that is due, or when the
loop ends.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

from swen.config import Settings
from swen.store.maintenance import MaintenanceReport, maintain

if TYPE_CHECKING:
    from swen.store.repository import Store

_log = logging.getLogger(__name__)
PURGE_EVERY_S = 3600.0
"""Telemetry maintenance at most once per hour of the loop's clock (simulated under the simulator)."""


class MaintenanceTurns:
    """The loop's maintenance passes; a context manager that waits for a pass still running on exit.

    ``deleted_rows`` is the raw samples the passes finished so far deleted (all of them after exit)."""

    def __init__(self, store: Store, settings: Settings, *, background: bool) -> None:
        self._store, self._settings = store, settings
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="telemetry-maintenance") if background else None
        self._pending: Future[MaintenanceReport] | None = None
        self._next_due: datetime | None = None
        self.deleted_rows = 0
        self.skipped = 0

    def __enter__(self) -> MaintenanceTurns:
        return self

    def due(self, now: datetime) -> None:
        """Run (or start) a pass if one is due at ``now``."""
        if self._next_due is not None and now < self._next_due:
            return
        first = self._next_due is None
        self._next_due = now + timedelta(seconds=PURGE_EVERY_S)
        if self._pool is None or first:
            self.deleted_rows += maintain(self._store, self._settings, now=now).deleted_rows
            return
        if self._pending is not None:
            if not self._pending.done():
                self.skipped += 1
                _log.warning("telemetry maintenance still running: the pass due at %s is skipped", now)
                return
            self._collect()
        self._pending = self._pool.submit(maintain, self._store, self._settings, now=now)

    def _collect(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.deleted_rows += pending.result().deleted_rows  # a failed pass raises here

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is None:
            return
        try:
            if exc is None:
                self._collect()
            elif self._pending is not None and (failure := self._pending.exception()) is not None:
                _log.error("telemetry maintenance failed while the loop stopped: %s", failure)
        finally:
            self._pool.shutdown(wait=True)
