"""Migration 0007 on an existing telemetry table: the old single copy statement against the new copy
by day, side by side on the same PostgreSQL database.

A throwaway database is migrated to 0006 and its (unpartitioned) ``telemetry_samples`` filled with
ROWS rows spread evenly over DAYS days (10,000 services, six places, the simulator's columns). Then,
alternating, each in a transaction that is rolled back so both start from the same table:

- ``before``: the statements of migration 0007 before this change (copied here): the partitioned
  table with its primary key and indexes first, then ``INSERT INTO telemetry_samples SELECT * FROM
  telemetry_samples_unpartitioned`` (tuple routing, every index updated row by row);
- ``after``: the real migration 0007 through Alembic (one statement per day straight into the day's
  partition, the primary key and indexes built after the copy).

Per run: wall s and the PostgreSQL backend's CPU s (read from /proc: the server runs on this machine).

    source scripts/test-services.sh
    .venv/bin/python bench/migration_bench.py [--rows 2000000] [--days 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, text

from pg_database import throwaway_database

START = datetime(2026, 11, 1, tzinfo=UTC)
OLD = "telemetry_samples_unpartitioned"


def before(conn: Connection) -> None:
    """Migration 0007's partitioning as it was (rollups left out: the same in both)."""
    run = conn.exec_driver_sql
    run(f"ALTER TABLE telemetry_samples RENAME TO {OLD}")
    run("ALTER INDEX pk_telemetry_samples RENAME TO pk_telemetry_samples_unpartitioned")
    run("ALTER INDEX ix_telemetry_service_ts RENAME TO ix_telemetry_service_ts_unpartitioned")
    run("ALTER INDEX ix_telemetry_ts RENAME TO ix_telemetry_ts_unpartitioned")
    run("ALTER SEQUENCE telemetry_samples_id_seq OWNED BY NONE")
    run(
        f"CREATE TABLE telemetry_samples (LIKE {OLD} INCLUDING DEFAULTS, "
        "CONSTRAINT pk_telemetry_samples PRIMARY KEY (id, ts)) PARTITION BY RANGE (ts)"
    )
    run("ALTER SEQUENCE telemetry_samples_id_seq OWNED BY telemetry_samples.id")
    run("CREATE INDEX ix_telemetry_service_ts ON telemetry_samples (service, ts)")
    run("CREATE INDEX ix_telemetry_ts ON telemetry_samples (ts)")
    first, last = conn.execute(text(f"SELECT min(ts), max(ts) FROM {OLD}")).one()
    day = first.astimezone(UTC).date()
    while day <= last.astimezone(UTC).date():
        lo = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
        run(
            f"CREATE TABLE telemetry_samples_p{day:%Y%m%d} PARTITION OF telemetry_samples "
            f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{(lo + timedelta(days=1)).isoformat()}')"
        )
        day += timedelta(days=1)
    run(f"INSERT INTO telemetry_samples SELECT * FROM {OLD}")
    run(f"DROP TABLE {OLD}")


def after(conn: Connection, url: str) -> None:
    from alembic import command

    from swen.store.db import alembic_config

    cfg = alembic_config(url)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "0007")


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(engine: object, step: Callable[[Connection], None]) -> tuple[float, float]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        trans = conn.begin()
        pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        cpu0, t0 = _cpu_of(pid), time.perf_counter()
        step(conn)
        wall, cpu = time.perf_counter() - t0, _cpu_of(pid) - cpu0
        trans.rollback()
    return wall, cpu


database = throwaway_database


def main() -> None:
    from swen.store.db import make_engine, migrate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    with database() as url:
        engine = make_engine(url)
        migrate(engine, "0006")
        step_us = args.days * 86_400_000_000 // args.rows
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO telemetry_samples (service, provider, region, ts, instance_type, "
                    "hourly_cost_usd, latency_ms, credits_usd, gpu_availability, availability, error_rate, "
                    "simulated_price) SELECT 'service-' || (i % 10000), "
                    "(ARRAY['aws', 'alibaba', 'gcp'])[i % 3 + 1], 'region-' || (i % 6), "
                    ":start + (i::bigint * :step) * interval '1 microsecond', 'm5.large', "
                    "0.19 * (0.98 + 0.04 * random()), 40 * (0.9 + 0.2 * random()), 0, 1, 0.999, 0.001, "
                    "i % 3 = 1 "
                    "FROM generate_series(0, :n - 1) AS i"
                ),
                {"start": START, "step": step_us, "n": args.rows},
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) telemetry_samples")
        print(f"filled {args.rows:,} rows over {args.days} days in {time.perf_counter() - t0:.0f} s")
        results: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
        for r in range(args.runs):
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                step = before if name == "before" else (lambda conn: after(conn, url))
                results[name].append(timed(engine, step))
                wall, cpu = results[name][-1]
                print(f"  run {r + 1} {name}: wall {wall:.1f} s, server CPU {cpu:.1f} s")
        engine.dispose()
        print(f"load average at end: {os.getloadavg()}")
    med = statistics.median
    print(f"\nmedians of {args.runs}, {args.rows:,} rows over {args.days} days")
    print("| migration 0007 | wall s | server CPU s | rows/s (wall) |")
    print("|---|---|---|---|")
    for name, rs in results.items():
        wall, cpu = med(w for w, _ in rs), med(c for _, c in rs)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {args.rows / wall:,.0f} |")
    b, a = (med(w for w, _ in results[n]) for n in ("before", "after"))
    bc, ac = (med(c for _, c in results[n]) for n in ("before", "after"))
    print(f"after / before: wall {a / b:.2f}, server CPU {ac / bc:.2f}")


if __name__ == "__main__":
    main()
