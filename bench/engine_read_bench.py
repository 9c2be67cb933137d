"""The engine's telemetry read and the ingest's latest-sample upsert at fleet scale, before and after.

One process, one PostgreSQL database (``source scripts/test-services.sh``), the fleet of
bench/fleet_live_bench.py (the default fleet repeated) and the real simulator's samples:

- *read*: what an engine cycle does with six new 5 s ticks. Before (the code as it was, kept here): a
  validated ``TelemetrySample`` per row, grouped by tick in a dict, ``SampleWindow.update`` per tick, the
  newest time from every latest sample. After: ``EngineLoop._new_samples`` (``Store.sample_columns_between``,
  one max() for the newest time) and ``SampleWindow.update_columns`` per tick.
- *ingest*: one tick of the fleet through the ingest. Before: COPY, then the ``telemetry_latest``
  upsert as an executemany of one statement per group (kept here). After: ``Store.insert_samples``
  (COPY, then one ``unnest`` upsert over binary arrays).

CPU seconds of this process (the client) and wall seconds, medians of ``--runs``, before and after
alternating; the ratio after/before.

    .venv/bin/python bench/engine_read_bench.py [--services 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from fleet_live_bench import big_fleet, database  # the same fleet and throwaway database
from swen.config import Settings
from swen.domain.models import Placement, TelemetrySample
from swen.engine.window import SampleWindow
from swen.loop import EngineLoop
from swen.store import ingest
from swen.store.db import write_transaction
from swen.store.repository import Store
from swen.store.tables import telemetry_latest, telemetry_samples
from swen.telemetry.price_versions import peek_catalog
from swen.telemetry.runner import run_simulator
from swen.telemetry.simulator import Simulator
from swen.telemetry.source import SimulatorSource

TICKS = 6


def read_before(store: Store, window: SampleWindow, start: datetime) -> int:
    latest = [
        TelemetrySample.model_validate({n: getattr(r, n) for n in ingest.SAMPLE_COLUMNS})
        for r in _rows(store, select(telemetry_latest))
    ]
    newest = max(s.ts for s in latest)
    rows = _rows(
        store,
        select(telemetry_samples)
        .where(telemetry_samples.c.ts >= start, telemetry_samples.c.ts <= newest)
        .order_by(telemetry_samples.c.ts, telemetry_samples.c.id),
    )
    by_tick: dict[datetime, list[TelemetrySample]] = {}
    for row in rows:
        sample = TelemetrySample.model_validate({n: getattr(row, n) for n in ingest.SAMPLE_COLUMNS})
        by_tick.setdefault(sample.ts, []).append(sample)
    for _, samples in sorted(by_tick.items()):
        window.update(samples)
    return len(rows)


def read_after(loop: EngineLoop, window: SampleWindow, start: datetime) -> int:
    loop._last_tick = start - timedelta(microseconds=1)
    batch = loop._new_samples()
    for _, tick in batch.by_tick():
        window.update_columns(tick)
    return len(batch)


def _rows(store: Store, query: Any) -> list[Any]:
    with store.reading("bench") as conn:
        return list(conn.execute(query).all())


def ingest_before(store: Store, samples: list[TelemetrySample]) -> None:
    with write_transaction(store.engine, pg_lock_key=None) as conn:
        ingest._copy_postgresql(conn, samples)
        stmt = postgresql.insert(telemetry_latest)
        stmt = stmt.on_conflict_do_update(
            index_elements=["service", "provider", "region"],
            set_={name: getattr(stmt.excluded, name) for name in ingest.SAMPLE_COLUMNS[3:]},
            where=telemetry_latest.c.ts <= stmt.excluded.ts,
        )
        rows = [
            dict(zip(ingest.SAMPLE_COLUMNS, ingest.sample_tuple(s), strict=True))
            for s in ingest.newest_per_group(samples)
        ]
        conn.execute(stmt, rows)


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    c, w = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c, time.perf_counter() - w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp, database() as url:
        settings = Settings(home=Path(tmp), database_url=url)
        store = Store.open(settings)
        fleet = big_fleet(args.services)
        store.upsert_services(fleet)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5 * TICKS)
        run_simulator(settings, store, speed=1e9, services=fleet, start=start, max_steps=TICKS)
        loop = EngineLoop(settings, store, anomaly_detection=False)
        keys = list(loop._placement_keys)
        placements = [Placement.parse(k) for k in keys]

        def window() -> SampleWindow:
            return SampleWindow([s.name for s in fleet], placements, settings.window_size)

        res: dict[str, list[tuple[float, float]]] = {"read before": [], "read after": []}
        res |= {"ingest before": [], "ingest after": []}
        sim = Simulator(fleet, peek_catalog(store), 11, start, 5.0)
        where = {s.name: s.fleet_placement for s in fleet}
        later = start + timedelta(hours=1)
        n_ingest = 0
        for _ in range(args.runs):  # every read before any ingest (which adds newer ticks)
            w1, w2 = window(), window()
            res["read before"].append(timed(lambda w=w1: read_before(store, w, start)))  # type: ignore[misc]
            res["read after"].append(timed(lambda w=w2: read_after(loop, w, start)))  # type: ignore[misc]
        n_read = read_after(loop, window(), start)
        for run in range(args.runs):
            order = ("ingest before", "ingest after") if run % 2 == 0 else ("ingest after", "ingest before")
            for variant in order:
                samples = SimulatorSource(sim).collect(later, where)
                later += timedelta(seconds=5)
                n_ingest = len(samples)
                fn = ingest_before if variant == "ingest before" else Store.insert_samples
                res[variant].append(timed(lambda f=fn, s=samples: f(store, s)))  # type: ignore[misc]
        print(f"{args.services} services: the read is {TICKS} ticks = {n_read:,} samples; the ingest "
              f"one tick = {n_ingest:,} samples; medians of {args.runs}")  # fmt: skip
        med = {
            k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v))
            for k, v in res.items()
        }
        for k, (cpu, wall) in med.items():
            print(f"  {k:<14} client CPU {cpu:6.2f} s   wall {wall:6.2f} s")
        for what in ("read", "ingest"):
            (cb, wb), (ca, wa) = med[f"{what} before"], med[f"{what} after"]
            print(f"  {what}: after/before client CPU {ca / cb:.2f}, wall {wa / wb:.2f}")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        store.close()


if __name__ == "__main__":
    main()
