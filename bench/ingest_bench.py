"""Telemetry ingest benchmark: Store.insert_samples against raw DBAPI executemany, same run, same rows.

SQLite: a temporary file (WAL). PostgreSQL: a throwaway database when SWEN_TEST_PG_URL is set
(`source scripts/test-services.sh`). Prints samples/s and the ratio store / raw baseline (higher is
better; > 1 means the store path beats a plain executemany). The SQLite baseline gets its timestamps
already converted to text outside the timed part, so it is the most favourable plain executemany.

    .venv/bin/python bench/ingest_bench.py [--samples 200000] [--batch 5000]

``--fleet N`` instead runs the simulator's whole tick for N services (the default fleet repeated, as
bench/fleet_live_bench.py; 11 places a service at 10,000) on a throwaway PostgreSQL database, the
previous tick path (kept below as ``tick_before``: every service read back, one ``TelemetrySample`` per
sample, ``insert_samples``, the export from the samples) and the current one (``runner._cycle``)
alternating tick by tick on one store: wall, this process's CPU and the database backends' CPU
(``/proc/<pid>/stat`` of this database's sessions), medians of ``--ticks`` each, and the ratios.

    PYTHONPATH=src .venv/bin/python bench/ingest_bench.py --fleet 10000 --ticks 5
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from pg_database import throwaway_database
from swen.domain.events import EventType
from swen.domain.models import TelemetrySample
from swen.store.ingest import SAMPLE_COLUMNS, sample_tuple
from swen.store.repository import Store
from swen.store.tables import telemetry_samples

PLACES = [("aws", "us-east-1"), ("aws", "eu-west-1"), ("alibaba", "cn-hangzhou"), ("gcp", "us-central1")]
INSERT_SQL = "INSERT INTO telemetry_samples ({}) VALUES ({})"


def make_samples(n: int) -> list[TelemetrySample]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        provider, region = PLACES[i % len(PLACES)]
        out.append(
            TelemetrySample(
                service=f"svc-{i % 20}",
                provider=provider,
                region=region,
                ts=t0 + timedelta(seconds=5 * (i // 80)),
                instance_type="m5.xlarge",
                hourly_cost_usd=0.192 + (i % 7) * 0.001,
                latency_ms=40.0 + i % 13,
                credits_usd=100.0,
                gpu_availability=1.0,
                availability=0.999,
                error_rate=0.001,
                simulated_price=provider == "alibaba",
            )
        )
    return out


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def timed(label: str, n: int, run: Callable[[], None]) -> float:
    """Wall-clock samples/s (returned) and this process's CPU per sample (less sensitive to load)."""
    start, cpu = time.perf_counter(), time.process_time()
    run()
    rate = n / (time.perf_counter() - start)
    cpu_us = (time.process_time() - cpu) / n * 1e6
    print(f"  {label:<42} {rate:>12,.0f} samples/s   client CPU {cpu_us:5.2f} us/sample")
    return rate


def bench_sqlite(samples: list[TelemetrySample], batch: int) -> None:
    print(f"SQLite (WAL, temp file), {len(samples):,} samples in batches of {batch:,}")
    tuples = [sample_tuple(s) for s in samples]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(f"sqlite:///{Path(tmp) / 'store.db'}")
        rate = timed("Store.insert_samples", len(samples), lambda: _store_insert(store, samples, batch))
        bench_latest(store)
        bench_audit(store)
        store.close()

        base_store = Store.from_url(f"sqlite:///{Path(tmp) / 'raw.db'}")
        base_store.close()
        raw = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        sql = INSERT_SQL.format(", ".join(SAMPLE_COLUMNS), ", ".join("?" * len(SAMPLE_COLUMNS)))
        iso = [(*t[:3], t[3].isoformat(sep=" "), *t[4:]) for t in tuples]

        def raw_insert() -> None:
            for chunk in batches(iso, batch):
                raw.execute("BEGIN")
                raw.executemany(sql, chunk)
                raw.execute("COMMIT")

        base = timed("raw sqlite3 executemany (baseline)", len(samples), raw_insert)
        raw.close()
    print(f"  ratio store / baseline: {rate / base:.2f}")


def bench_latest(store: Store) -> None:
    """latest_samples (telemetry_latest table) against a GROUP BY max(ts) over the history."""
    t = telemetry_samples
    newest = select(t.c.service, t.c.provider, t.c.region, func.max(t.c.ts)).group_by(
        t.c.service, t.c.provider, t.c.region
    )

    def group_by() -> None:
        with store.engine.connect() as conn:
            conn.execute(newest).all()

    fast = _best_ms(lambda: store.latest_samples())
    slow = _best_ms(group_by)
    print(f"  latest_samples: {fast:.2f} ms; GROUP BY max(ts) over the history (baseline): {slow:.1f} ms")


def bench_audit(store: Store, n: int = 500) -> None:
    """Serialised, hash-chained event appends (one transaction each) and verify_audit."""
    start = time.perf_counter()
    for i in range(n):
        store.append_event(EventType.SCENARIO, {"i": i, "note": "bench"})
    appends = n / (time.perf_counter() - start)
    start = time.perf_counter()
    report = store.verify_audit()
    verify = report.checked / (time.perf_counter() - start)
    print(f"  append_event: {appends:,.0f} events/s; verify_audit: {verify:,.0f} rows/s (ok={report.ok})")


def _best_ms(run: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _store_insert(store: Store, samples: list[TelemetrySample], batch: int) -> None:
    for chunk in batches(samples, batch):
        store.insert_samples(chunk)


def bench_postgresql(samples: list[TelemetrySample], batch: int, admin_url: str) -> None:
    import psycopg

    print(f"PostgreSQL, {len(samples):,} samples in batches of {batch:,}")
    tuples = [sample_tuple(s) for s in samples]
    with throwaway_database(admin=admin_url) as url:
        store = Store.from_url(url)
        rate = timed(
            "Store.insert_samples (COPY)", len(samples), lambda: _store_insert(store, samples, batch)
        )
        bench_latest(store)
        bench_audit(store)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE telemetry_samples")
        store.close()

        sql = INSERT_SQL.format(", ".join(SAMPLE_COLUMNS), ", ".join(["%s"] * len(SAMPLE_COLUMNS)))
        with psycopg.connect(url) as raw:

            def raw_insert() -> None:
                for chunk in batches(tuples, batch):
                    with raw.cursor() as cur:
                        cur.executemany(sql, chunk)
                    raw.commit()

            base = timed("raw psycopg executemany (baseline)", len(samples), raw_insert)
    print(f"  ratio store / baseline: {rate / base:.2f}")


# --- one simulator tick, before and after ---------------------------------------------------------------
def tick_before(settings: Any, store: Store, sim: Any, now: datetime, inbox: Any, *, durable: bool) -> int:
    """The tick as ``runner._cycle`` did it before the columnar path (main at ccc10a5)."""
    from swen.store.exports import write_latest_telemetry
    from swen.telemetry.source import SimulatorSource

    placements = {s.name: s.fleet_placement for s in store.list_services()} | store.get_placements()
    for scenario in inbox.poll():
        sim.activate(scenario)
    samples = SimulatorSource(sim).collect(now, placements)
    store.insert_samples(samples)
    write_latest_telemetry(
        settings.latest_telemetry_path, samples, generated_at=now, placements=placements, fsync=durable
    )
    store.append_event(EventType.TELEMETRY_CYCLE, {"count": len(samples), "sim_time": now.isoformat()})
    return len(samples)


def _server_cpu_s(store: Store) -> float:
    """utime + stime of this database's backends (Linux /proc; the server runs on this machine)."""
    with store.engine.connect() as conn:
        pids = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).scalars()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def bench_fleet_tick(services: int, ticks: int, admin_url: str) -> None:
    import statistics

    from fleet_live_bench import big_fleet
    from swen.config import Settings
    from swen.telemetry import runner
    from swen.telemetry.price_versions import peek_catalog
    from swen.telemetry.scenarios import ScenarioInbox
    from swen.telemetry.simulator import Simulator

    fleet = big_fleet(services)
    with tempfile.TemporaryDirectory() as tmp, throwaway_database(admin=admin_url) as url:
        settings = Settings(home=Path(tmp), database_url=url)
        store = Store.open(settings)
        store.upsert_services(fleet)
        catalog = peek_catalog(store)
        start = datetime.now(UTC).replace(microsecond=0)
        sim = Simulator(fleet, catalog, 7, start, settings.sim_interval_s)
        inbox = ScenarioInbox(store, catalog)
        exporter = ThreadPoolExecutor(1)  # as run_simulator runs it: the export staged during the insert
        paths = {"before": tick_before, "after": partial(runner._cycle, exporter=exporter)}
        figures: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
        n = 0
        for k in range(2 * ticks + 2):  # the first tick of each path warms up (caches, plans): not counted
            name = "before" if k % 2 == 0 else "after"
            now = start + timedelta(seconds=settings.sim_interval_s * k)
            server, cpu, wall = _server_cpu_s(store), time.process_time(), time.perf_counter()
            n = paths[name](settings, store, sim, now, inbox, durable=True)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            server = _server_cpu_s(store) - server
            if k >= 2:
                figures[name].append((wall, cpu, server))
            print(f"  tick {k:2d} {name:<6} wall {wall:5.2f} s  client CPU {cpu:5.2f} s  server CPU "
                  f"{server:5.2f} s  (load {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip
        print(f"{services:,} services, {n:,} samples a tick; medians of {ticks} ticks each, alternating:")
        med = {k: [statistics.median(f[i] for f in rows) for i in range(3)] for k, rows in figures.items()}
        for name, (wall, cpu, server) in med.items():
            print(f"  {name:<6} wall {wall:5.2f} s   client CPU {cpu:5.2f} s   server CPU {server:5.2f} s")
        b, a = med["before"], med["after"]
        print(f"  after/before: wall {a[0] / b[0]:.2f}, client CPU {a[1] / b[1]:.2f}, server CPU "
              f"{a[2] / b[2]:.2f}")  # fmt: skip
        exporter.shutdown()
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--fleet", type=int, default=0, help="bench one simulator tick of N services")
    parser.add_argument("--ticks", type=int, default=5, help="with --fleet: ticks of each path")
    args = parser.parse_args()
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.fleet:
        admin = os.environ.get("SWEN_TEST_PG_URL")
        if not admin:
            raise SystemExit("--fleet needs PostgreSQL: run `source scripts/test-services.sh` first")
        bench_fleet_tick(args.fleet, args.ticks, admin)
        return
    start = time.perf_counter()
    samples = make_samples(args.samples)
    print(
        f"built {len(samples):,} validated samples in {time.perf_counter() - start:.1f} s (not timed below)"
    )
    bench_sqlite(samples, args.batch)
    admin = os.environ.get("SWEN_TEST_PG_URL")
    if admin:
        bench_postgresql(samples, args.batch, admin)
    else:
        print("PostgreSQL: skipped (set SWEN_TEST_PG_URL, e.g. `source scripts/test-services.sh`)")


if __name__ == "__main__":
    main()
