# ruff: noqa: E501  (SQL statements kept on one line each)
"""Telemetry partitioning: by day only, against by day and then HASH(service) into 8, on PostgreSQL.

The same 1,036,800 rows (200 services x 6 places, every 5 minutes, 3 days) are inserted into both
layouts in one process (JIT off, as the store's reads never need it), then three reads are timed
(median of 7): the engine's recent window of one service, one service over the 3 days, and a fleet
aggregate (the credits per provider). A throwaway database on SWEN_TEST_PG_URL's server.

    source scripts/test-services.sh && .venv/bin/python bench/partition_hash_bench.py
"""

import os
import statistics
import sys
import time

import psycopg

admin = os.environ.get("SWEN_TEST_PG_URL") or sys.exit(
    "set SWEN_TEST_PG_URL (source scripts/test-services.sh)"
)
db = "swen_pgscale_hash"
with psycopg.connect(admin, autocommit=True) as c:
    c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    c.execute(f'CREATE DATABASE "{db}"')
try:
    with psycopg.connect(admin.rsplit("/", 1)[0] + "/" + db, autocommit=True) as c:
        c.execute("SET jit = off")
        for t in ("day", "dayhash"):
            c.execute(
                f"CREATE TABLE {t} (id bigserial, service varchar(63), provider varchar(63), region varchar(63), ts timestamptz, hourly_cost_usd float8, credits_usd float8, latency_ms float8, PRIMARY KEY (id, ts"
                + (", service" if t == "dayhash" else "")
                + ")) PARTITION BY RANGE (ts)"
            )
            c.execute(f"CREATE INDEX ON {t} (service, ts)")
            c.execute(f"CREATE INDEX ON {t} (ts)")
            for d in range(3):
                lo, hi = f"2026-11-0{d + 1}", f"2026-11-0{d + 2}"
                if t == "day":
                    c.execute(
                        f"CREATE TABLE {t}_{d} PARTITION OF {t} FOR VALUES FROM ('{lo}+00') TO ('{hi}+00')"
                    )
                else:
                    c.execute(
                        f"CREATE TABLE {t}_{d} PARTITION OF {t} FOR VALUES FROM ('{lo}+00') TO ('{hi}+00') PARTITION BY HASH (service)"
                    )
                    for h in range(8):
                        c.execute(
                            f"CREATE TABLE {t}_{d}_{h} PARTITION OF {t}_{d} FOR VALUES WITH (MODULUS 8, REMAINDER {h})"
                        )
            t0 = time.perf_counter()
            c.execute(f"""INSERT INTO {t} (service, provider, region, ts, hourly_cost_usd, credits_usd, latency_ms)
                SELECT 'service-' || s, 'p' || (pl % 3), 'r' || pl, timestamptz '2026-11-01 00:00+00' + make_interval(mins => 5 * k), 0.1 + s * 0.001, 1000 - k, 20 + (k % 50)
                FROM generate_series(0, 199) s, generate_series(0, 5) pl, generate_series(0, 3 * 288 - 1) k""")
            c.execute(f"ANALYZE {t}")
            print(t, "insert", round(time.perf_counter() - t0, 1), "s")
        reads = {
            "one service, 1 hour": "SELECT * FROM {t} WHERE service = 'service-77' AND ts >= '2026-11-02 10:00+00' AND ts < '2026-11-02 11:00+00'",
            "one service, 3 days": "SELECT avg(latency_ms) FROM {t} WHERE service = 'service-77' AND ts >= '2026-11-01+00' AND ts < '2026-11-04+00'",
            "fleet, credits per provider, 3 days": "SELECT provider, avg(credits_usd) FROM {t} WHERE ts >= '2026-11-01+00' AND ts < '2026-11-04+00' GROUP BY provider",
        }
        for name, q in reads.items():
            out = []
            for t in ("day", "dayhash"):
                xs = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    c.execute(q.format(t=t)).fetchall()
                    xs.append(time.perf_counter() - t0)
                out.append(statistics.median(xs) * 1000)
            print(
                f"{name:38} day {out[0]:8.2f} ms  day x hash8 {out[1]:8.2f} ms  ratio {out[1] / out[0]:.2f}"
            )
finally:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
