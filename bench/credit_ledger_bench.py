"""Credit ledger benchmark: what the live ledger adds to an engine cycle, and what a restart (or a
``GET /credits``) costs to replay a month of burn intervals.

Two measurements, each against a baseline measured in the same process, on a SQLite store in a
temporary directory with the packaged fleet and ledger:

* engine cycle: ``EngineLoop.cycle()`` on one new telemetry tick, with the ledger (catch-up of one
  5-minute interval, written to the store, and the overlay of the balances on the window) against the
  same cycle with the ledger's ``catch_up`` and ``overlay`` replaced by no-ops (the cycle before the
  ledger existed). Median of ``--cycles`` cycles each.
* replay: ``LiveLedger(settings, store)`` over ``--days`` days of recorded intervals (300 s each)
  against reading the same rows only (``CreditBurnRepository.rows()``), and ``refresh()`` after one
  more interval (what ``GET /credits`` does from its second request on) against that replay.

    .venv/bin/python bench/credit_ledger_bench.py [--cycles 20] [--days 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from swen.config import Settings
from swen.loop import EngineLoop
from swen.store.credits import CreditBurnRepository
from swen.store.repository import Store
from swen.telemetry.fleet import load_fleet
from swen.telemetry.ledger import LiveLedger
from swen.telemetry.runner import run_simulator

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _cycles(settings: Settings, store: Store, engines: list[EngineLoop], n: int) -> list[list[float]]:
    """Each engine cycles once on every new tick, in alternating order (load drifts hit both)."""
    out: list[list[float]] = [[] for _ in engines]
    for i in range(n):
        run_simulator(settings, store, seed=5, max_steps=1)
        order = list(range(len(engines)))[:: 1 if i % 2 == 0 else -1]
        for k in order:
            started = time.perf_counter()
            engines[k].cycle()
            out[k].append(time.perf_counter() - started)
    return out


def engine_cycle(home: Path, cycles: int) -> tuple[float, float]:
    settings = Settings(home=home, sim_interval_s=300, sim_speed=1e9, credits_interval_s=300)
    with Store.open(settings) as store:
        run_simulator(settings, store, seed=5, start=T0, max_steps=settings.window_size)
        with_ledger = EngineLoop(settings, store, anomaly_detection=False)
        without = EngineLoop(settings, store, anomaly_detection=False)
        noop: Any = lambda *a, **k: 0  # noqa: E731
        without.credits.catch_up = noop  # type: ignore[method-assign]
        without.credits.overlay = noop  # type: ignore[method-assign]
        with_ledger.cycle()
        without.cycle()
        base, ledger = _cycles(settings, store, [without, with_ledger], cycles)
    return statistics.median(base), statistics.median(ledger)


def replay(home: Path, days: float) -> tuple[int, float, float]:
    settings = Settings(home=home, credits_interval_s=300)
    fleet = load_fleet()
    with Store.open(settings) as store:
        live = LiveLedger(settings, store)
        live.catch_up(T0, fleet, {})
        live.catch_up(T0 + timedelta(days=days), fleet, {})  # one catch-up of every interval
        rows = len(CreditBurnRepository(store).rows())
        started = time.perf_counter()
        CreditBurnRepository(store).rows()
        read = time.perf_counter() - started
        started = time.perf_counter()
        reader = LiveLedger(settings, store)
        full = time.perf_counter() - started
        live.catch_up(T0 + timedelta(days=days, minutes=5), fleet, {})
        started = time.perf_counter()
        reader.refresh()
        refresh = time.perf_counter() - started
    return rows, read, full, refresh


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--days", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, ledger = engine_cycle(Path(tmp) / "cycle", args.cycles)
        print(
            f"engine cycle (10 services, 1 tick), median of {args.cycles}: without the ledger "
            f"{base * 1000:.1f} ms, with it {ledger * 1000:.1f} ms (ratio {ledger / base:.2f})"
        )
        rows, read, full, refresh = replay(Path(tmp) / "replay", args.days)
        print(
            f"replay of {rows} intervals ({args.days:g} days at 300 s): reading the rows "
            f"{read * 1000:.0f} ms, LiveLedger (read + replay) {full * 1000:.0f} ms "
            f"(ratio {full / read:.2f}); refresh after one more interval {refresh * 1000:.1f} ms "
            f"(ratio {refresh / full:.4f} of a replay)"
        )


if __name__ == "__main__":
    main()
