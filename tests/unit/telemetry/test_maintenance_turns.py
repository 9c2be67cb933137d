"""The telemetry loops' maintenance passes: inline on an accelerated clock, on a thread of their own on
a real-time one, never two at once, and a failed pass fails the loop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from swen.config import Settings
from swen.domain.errors import StoreError
from swen.domain.events import EventType
from swen.store.maintenance import MaintenanceReport
from swen.store.repository import Store
from swen.telemetry import maintenance_turns
from swen.telemetry.maintenance_turns import MaintenanceTurns
from swen.telemetry.runner import run_simulator

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)
WAIT_S = 60.0
"""A bound on waiting for the other thread, never a measurement."""


class Passes:
    """A stand-in for ``store.maintenance.maintain``: records each pass; the passes after the first wait
    for ``release`` (a long roll-up)."""

    def __init__(self, *, block_after_first: bool = False, fail: bool = False) -> None:
        self.calls: list[tuple[datetime, str]] = []
        self.running = 0
        self.most_at_once = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self._block, self._fail = block_after_first, fail
        self._lock = threading.Lock()

    def __call__(self, store: Any, settings: Any, *, now: datetime) -> MaintenanceReport:
        with self._lock:
            self.calls.append((now, threading.current_thread().name))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            later = len(self.calls) > 1
        try:
            if later and self._fail:
                raise StoreError("rolling up telemetry failed: disk full")
            if later and self._block:
                self.started.set()
                assert self.release.wait(WAIT_S)
            return MaintenanceReport(deleted_rows=10)
        finally:
            with self._lock:
                self.running -= 1


def test_an_accelerated_loop_runs_every_pass_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    passes = Passes()
    monkeypatch.setattr(maintenance_turns, "maintain", passes)
    with MaintenanceTurns(None, Settings(), background=False) as turns:  # type: ignore[arg-type]
        for hour in range(4):
            turns.due(T0 + timedelta(hours=hour))
            turns.due(T0 + timedelta(hours=hour, minutes=30))  # not due yet
    assert [now for now, _ in passes.calls] == [T0 + timedelta(hours=h) for h in range(4)]
    assert {thread for _, thread in passes.calls} == {threading.current_thread().name}
    assert turns.deleted_rows == 40


def test_a_real_time_loop_skips_a_pass_while_one_runs_and_collects_every_finished_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passes = Passes(block_after_first=True)
    monkeypatch.setattr(maintenance_turns, "maintain", passes)
    with MaintenanceTurns(None, Settings(), background=True) as turns:  # type: ignore[arg-type]
        turns.due(T0)  # the first pass: in the loop
        assert passes.calls[0][1] == threading.current_thread().name
        turns.due(T0 + timedelta(hours=1))  # on the maintenance thread, held
        assert passes.started.wait(WAIT_S)
        turns.due(T0 + timedelta(hours=2))  # still running: skipped, the loop goes on
        turns.due(T0 + timedelta(hours=3))
        assert turns.skipped == 2 and len(passes.calls) == 2
        passes.release.set()
    assert passes.calls[1][1].startswith("telemetry-maintenance")
    assert passes.most_at_once == 1
    assert turns.deleted_rows == 20  # the held pass counted once it finished


def test_a_failed_background_pass_fails_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    passes = Passes(fail=True)
    monkeypatch.setattr(maintenance_turns, "maintain", passes)
    with (
        pytest.raises(StoreError, match="disk full"),
        MaintenanceTurns(None, Settings(), background=True) as turns,  # type: ignore[arg-type]
    ):
        turns.due(T0)
        turns.due(T0 + timedelta(hours=1))  # fails on the thread; raised when the loop ends


def test_the_simulator_keeps_ticking_while_a_real_time_pass_runs(
    swen_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At speed 1 a long maintenance pass holds no tick back: the simulator stores every tick while the
    pass waits, and the pass ends with the run."""
    passes = Passes(block_after_first=True)
    monkeypatch.setattr(maintenance_turns, "maintain", passes)
    monkeypatch.setattr(maintenance_turns, "PURGE_EVERY_S", 0.05)  # a pass due every few ticks
    settings = Settings(home=swen_home)
    start = datetime.now(UTC)
    with Store.open(settings) as store:
        stop = threading.Event()
        done: dict[str, Any] = {}
        runner = threading.Thread(
            target=lambda: done.update(
                run=run_simulator(
                    settings, store, seed=1, speed=1, interval_s=0.02, start=start, stop_event=stop
                )
            )
        )
        runner.start()
        try:
            assert passes.started.wait(WAIT_S)
            ticks_at_hold = len(store.events_after(0, types=[EventType.TELEMETRY_CYCLE]))
            for _ in range(int(WAIT_S / 0.05)):  # bounded: ten more ticks stored while the pass is held
                if len(store.events_after(0, types=[EventType.TELEMETRY_CYCLE])) >= ticks_at_hold + 10:
                    break
                stop.wait(0.05)
            else:
                pytest.fail("the simulator stored no further ticks while a maintenance pass ran")
            assert len(passes.calls) == 2  # the later passes were due and skipped
        finally:
            passes.release.set()
            stop.set()
            runner.join(WAIT_S)
    assert not runner.is_alive()
    assert passes.most_at_once == 1
    assert done["run"].purged >= 20
