"""Simulated time: an accelerated wall clock for live runs and a pure stepping clock for replays."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from swen.domain.errors import TelemetryError


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise TelemetryError("simulation start time must be timezone-aware", hint="use a UTC datetime")
    return value.astimezone(UTC)


class SimClock:
    """Simulated time = start + wall seconds elapsed x speed (speed 720: one simulated hour per 5 s)."""

    def __init__(
        self, start: datetime, speed: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if not speed > 0 or speed == float("inf"):
            raise TelemetryError(
                f"clock speed must be a positive finite number, got {speed!r}",
                hint="use e.g. --speed 1 (real time) or --speed 720",
            )
        self.start = _aware(start)
        self.speed = float(speed)
        self._monotonic = monotonic
        self._t0 = monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._t0) * self.speed)

    def wall_seconds_until(self, sim_time: datetime) -> float:
        """Wall-clock seconds to wait until ``sim_time`` (0 when it has passed)."""
        return max(0.0, (sim_time - self.now()).total_seconds() / self.speed)


class SteppingClock:
    """Pure stepping: each ``tick`` advances exactly ``interval_s`` simulated seconds (no waiting)."""

    def __init__(self, start: datetime, interval_s: float) -> None:
        if not interval_s > 0:
            raise TelemetryError(f"interval must be > 0 s, got {interval_s!r}", hint="use e.g. 5")
        self.start = _aware(start)
        self.interval = timedelta(seconds=interval_s)
        self.steps = 0

    def now(self) -> datetime:
        return self.start + self.steps * self.interval

    def tick(self) -> datetime:
        """Return the current simulated time, then advance by one interval."""
        current = self.now()
        self.steps += 1
        return current
