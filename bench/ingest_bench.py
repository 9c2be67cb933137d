"""Telemetry ingest benchmark: Store.insert_samples against raw DBAPI executemany, same run, same rows.

SQLite: a temporary file (WAL). PostgreSQL: a throwaway database when SWEN_TEST_PG_URL is set
(`source scripts/test-services.sh`). Prints samples/s and the ratio store / raw baseline (higher is
better; > 1 means the store path beats a plain executemany). The SQLite baseline gets its timestamps
already converted to text outside the timed part, so it is the most favourable plain executemany.

    .venv/bin/python bench/ingest_bench.py [--samples 200000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
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
