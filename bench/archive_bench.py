"""Archiving one closed day partition to Parquet on PostgreSQL: the old row path against COPY.

Fills one day partition of ``telemetry_samples`` on a throwaway PostgreSQL database with ROWS rows
shaped like the simulator's: the pairs (service, provider, region, instance type, values) of one real
``Simulator`` tick for a fleet of SERVICES services (the packaged fleet repeated under numbered
names), repeated every 5 s from 00:00 with server-side noise on every measurement, until ROWS rows.
Then archives that day to a local folder, in a fresh child process per run so that each run's peak
memory is its own, alternating the variants in every round:

- ``rows``: ``archive.row_batches``, the path before this change (a streamed SELECT through
  SQLAlchemy, each value a Python object, ``pa.array`` per column);
- ``fetch``: a psycopg server-side cursor, ``fetchmany`` of 100,000 rows into Arrow arrays (still a
  Python object per value, without SQLAlchemy's row objects);
- ``csv``: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` through psycopg, 100,000 rows at a time
  parsed by ``pyarrow.csv`` (here in the bench only: measured, and not chosen);
- ``adbc``: ``archive.arrow_batches``, the new path (the ADBC PostgreSQL driver: binary COPY decoded
  into Arrow in C++, in the snapshot of the counting transaction).

Every run goes through ``Archive.write_day`` (temp object, footer check, rename), like maintenance.
Per run: wall s, rows/s, the child's CPU s (user+sys), the PostgreSQL backend's CPU s (read from
/proc: the server runs on this machine; for ``adbc`` the reader's own backend, read at each batch),
the child's peak RSS (and its RSS before archiving) and Arrow's peak allocation. The archives of
every variant are compared: equal rows. Then the day of a
10,000-service fleet at the default 5 s interval (the simulator's real pairs per tick x 17,280 ticks)
is extrapolated from each variant's median rate, linearly (the paths stream in fixed-size batches).

    source scripts/test-services.sh
    .venv/bin/python bench/archive_bench.py [--rows 2000000] [--services 10000] [--runs 3]
        [--variants rows,fetch,csv,adbc]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pg_database import throwaway_database

DAY = date(2026, 11, 1)
TICK_S = 5
TICKS_PER_DAY = 86400 // TICK_S
FETCH = 100_000


# --- the fill ---------------------------------------------------------------------------------
def fleet_pairs(services: int) -> list[tuple[object, ...]]:
    """One real simulator tick of ``services`` services (``fleet_live_bench.big_fleet``): a row per
    (service, place) pair."""
    from fleet_live_bench import big_fleet
    from swen.telemetry.catalog import load_catalog
    from swen.telemetry.simulator import Simulator

    catalog = load_catalog()
    start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    sim = Simulator(big_fleet(services), catalog, seed=7, start=start, interval_s=TICK_S)
    return [
        (s.service, s.provider, s.region, s.instance_type, s.hourly_cost_usd, s.latency_ms,
         s.credits_usd, s.gpu_availability, s.availability, s.error_rate, s.simulated_price)
        for s in sim.step(start)
    ]  # fmt: skip


TICKS_PER_STATEMENT = 12
"""Ticks inserted per statement by ``fill`` (a minute: each statement sorts ~1.3 million rows at 10,000
services, not the whole fill at once)."""


def fill(url: str, pairs: list[tuple[object, ...]], rows: int, *, day: date = DAY) -> int:
    """``rows`` samples (whole ticks, every 5 s from ``day``'s 00:00) into ``day``'s partition, in tick
    order (as the simulator writes them), a minute of ticks per statement; returns how many."""
    import psycopg

    ticks = max(1, rows // len(pairs))
    if ticks > TICKS_PER_DAY:
        sys.exit(f"--rows {rows} is more than one day of {len(pairs)} pairs every {TICK_S} s")
    from swen.store.partitions import partition_ddl

    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(partition_ddl(day))
        conn.execute(
            "CREATE TEMP TABLE pairs (service text, provider text, region text, instance_type text, "
            "hourly float8, latency float8, credits float8, gpu float8, avail float8, err float8, sim bool)"
        )
        with conn.cursor() as cur, cur.copy("COPY pairs FROM STDIN") as copy:
            for pair in pairs:
                copy.write_row(pair)
        for first in range(0, ticks, TICKS_PER_STATEMENT):
            conn.execute(
                "INSERT INTO telemetry_samples (service, provider, region, ts, instance_type, "
                "hourly_cost_usd, latency_ms, credits_usd, gpu_availability, availability, error_rate, "
                "simulated_price) "
                "SELECT service, provider, region, %s + t * interval '5 seconds', instance_type, "
                "hourly * (0.98 + 0.04 * random()), latency * (0.9 + 0.2 * random()), credits, "
                "least(1, gpu * (0.95 + 0.1 * random())), least(1, avail + 0.0001 * random()), "
                "err * (0.5 + random()), sim FROM generate_series(%s::int, %s::int) AS t, pairs ORDER BY t",
                (start, first, min(ticks, first + TICKS_PER_STATEMENT) - 1),
            )
            conn.commit()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) telemetry_samples")  # hint bits set: every run reads alike
    return ticks * len(pairs)


database = throwaway_database


# --- one archive run (child process) -----------------------------------------------------------
def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def fetch_batches(conn, day: date):  # type: ignore[no-untyped-def]
    """psycopg server-side cursor, fetchmany into Arrow arrays (the ``fetch`` variant)."""
    import pyarrow as pa

    from swen.store.archive import SCHEMA
    from swen.store.partitions import day_start

    driver = conn.connection.driver_connection
    lo, hi = day_start(day), day_start(day + timedelta(days=1))
    with driver.cursor(name="archive_bench") as cur:
        cur.execute(
            f"SELECT {', '.join(SCHEMA.names)} FROM telemetry_samples WHERE ts >= %s AND ts < %s", (lo, hi)
        )
        while chunk := cur.fetchmany(FETCH):
            columns = list(zip(*chunk, strict=True))
            yield pa.RecordBatch.from_arrays(
                [pa.array(col, type=f.type) for col, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA
            )


# COPY's CSV: ts as integer microseconds since the epoch (exact, no time zone or date-style setting
# involved), floats in their shortest exact text (extra_float_digits >= 1), booleans as t/f.
def _csv_types() -> dict[str, Any]:
    import pyarrow as pa

    from swen.store.archive import SCHEMA

    return {
        **{f.name: f.type for f in SCHEMA if f.name not in ("ts", "simulated_price")},
        "ts": pa.int64(),
        "simulated_price": pa.bool_(),
    }


def _csv_select() -> str:
    from swen.store.archive import SCHEMA

    return ", ".join(
        "(extract(epoch FROM ts) * 1000000)::bigint" if name == "ts" else name for name in SCHEMA.names
    )


def csv_batches(conn: Any, day: date) -> Iterator[Any]:
    """The ``csv`` variant: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` on the connection's psycopg
    driver (same transaction), ``rows_per_batch`` CSV rows at a time parsed by ``pyarrow.csv``. psycopg
    hands over one COPY row per Python call, which is most of this variant's client CPU."""
    from psycopg import sql
    from pyarrow import csv

    from swen.store.archive import ROWS_PER_GROUP, SCHEMA
    from swen.store.partitions import day_start

    rows_per_batch = ROWS_PER_GROUP

    lo, hi = day_start(day), day_start(day + timedelta(days=1))
    query = sql.SQL(
        "COPY (SELECT {cols} FROM telemetry_samples WHERE ts >= {lo} AND ts < {hi}) TO STDOUT (FORMAT csv)"
    ).format(cols=sql.SQL(_csv_select()), lo=sql.Literal(lo), hi=sql.Literal(hi))
    read = csv.ReadOptions(column_names=SCHEMA.names, block_size=1 << 26)
    convert = csv.ConvertOptions(
        column_types=_csv_types(),
        true_values=["t"],
        false_values=["f"],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    driver = conn.connection.driver_connection
    with driver.cursor() as cur:
        cur.execute("SET LOCAL extra_float_digits = 1")
        with cur.copy(query) as copy:
            rows: list[memoryview | bytes] = []
            for row in copy:  # one CopyData message per row
                rows.append(row)
                if len(rows) == rows_per_batch:
                    yield _parse_csv(b"".join(rows), read, convert)
                    rows = []
            if rows:
                yield _parse_csv(b"".join(rows), read, convert)


def _parse_csv(block: bytes, read: Any, convert: Any) -> Any:
    import pyarrow as pa
    from pyarrow import csv

    from swen.store.archive import SCHEMA

    table = csv.read_csv(pa.py_buffer(block), read_options=read, convert_options=convert)
    ts = table.column("ts").cast(pa.timestamp("us", tz="UTC"))
    table = table.set_column(SCHEMA.get_field_index("ts"), SCHEMA.field("ts"), ts)
    return table.cast(SCHEMA).combine_chunks().to_batches()[0]


class ReaderCpu:
    """CPU of the ADBC reader's own backend (``application_name`` READER_NAME), read from /proc each
    time a batch arrives (the work after the last batch, closing the COPY, is not counted)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.pid: int | None = None
        self.cpu = 0.0

    def watch(self, batches: Iterator[Any]) -> Iterator[Any]:
        from swen.store.archive import READER_NAME

        for batch in batches:
            if self.pid is None:
                row = self.conn.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE application_name = %s AND datname = current_database()",
                    (READER_NAME,),
                ).fetchone()
                self.pid = row[0] if row else None
            if self.pid is not None:
                self.cpu = _cpu_of(self.pid)
            yield batch

    def stop(self) -> float:
        self.conn.close()
        return self.cpu


def child(url: str, variant: str, out: str) -> None:
    import pyarrow as pa

    from swen.store import archive as arch
    from swen.store.maintenance import _day_rows
    from swen.store.repository import Store

    store = Store.from_url(url, migrate=False)
    archive = arch.Archive(Path(out).resolve().as_uri())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batches = {
        "rows": arch.row_batches,
        "fetch": fetch_batches,
        "csv": csv_batches,
        "adbc": arch.arrow_batches,
    }[variant]
    with store.reading("bench") as conn:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        rows = _day_rows(conn, DAY)
        reader = ReaderCpu(url) if variant == "adbc" else None
        cpu0, server0, t0 = time.process_time(), _cpu_of(backend), time.perf_counter()
        stream = reader.watch(batches(conn, DAY)) if reader else batches(conn, DAY)
        done = archive.write_day(DAY, stream, rows)
        wall, cpu, server = time.perf_counter() - t0, time.process_time() - cpu0, _cpu_of(backend) - server0
        server += reader.stop() if reader else 0.0
    store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "variant": variant, "rows": done.rows, "written": done.written, "wall_s": wall, "cpu_s": cpu,
        "server_cpu_s": server, "rss_before_mib": rss_before / 1024, "peak_rss_mib": peak / 1024,
        "arrow_peak_mib": pa.default_memory_pool().max_memory() / 2**20, "path": done.path,
    }))  # fmt: skip


def run_child(url: str, variant: str, out: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--url", url, "--out", str(out)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        sys.exit(f"{variant} run failed:\n{proc.stderr}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def same_rows(paths: list[str]) -> bool:
    import pyarrow.parquet as pq

    keys = ["ts", "service", "provider", "region"]
    tables = [pq.read_table(p).sort_by([(k, "ascending") for k in keys]) for p in paths]
    return all(t.equals(tables[0]) for t in tables[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variants", default="rows,fetch,csv,adbc")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.url, args.child, args.out)
        return
    variants = args.variants.split(",")
    from swen.store.repository import Store

    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp, database() as url:
        Store.from_url(url).close()  # schema, partitioned table
        t0 = time.perf_counter()
        pairs = fleet_pairs(args.services)
        rows = fill(url, pairs, args.rows)
        fill_s = time.perf_counter() - t0
        print(f"{args.services} services: {len(pairs)} samples per {TICK_S} s tick; filled {rows:,} rows "
              f"({rows // len(pairs)} ticks) into the partition of {DAY} in {fill_s:.0f} s")  # fmt: skip
        results: dict[str, list[dict[str, object]]] = {v: [] for v in variants}
        for r in range(args.runs):
            order = variants if r % 2 == 0 else variants[::-1]
            for v in order:
                results[v].append(run_child(url, v, Path(tmp) / f"{v}-{r}"))
        print(f"load average at end: {os.getloadavg()}")
        same = same_rows([str(results[v][-1]["path"]) for v in variants])
    day_rows = len(pairs) * TICKS_PER_DAY
    med = statistics.median
    print(f"\nmedians of {args.runs} runs, {rows:,} rows; extrapolated day: {day_rows:,} rows "
          f"({len(pairs)} pairs x {TICKS_PER_DAY} ticks)")  # fmt: skip
    print("| variant | wall s | rows/s | client CPU s | server CPU s | RSS before, MiB | peak RSS, MiB "
          "| Arrow peak, MiB | 10k-service day, h (wall) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    rates: dict[str, float] = {}
    for v in variants:
        rs = results[v]
        wall = med(float(x["wall_s"]) for x in rs)  # type: ignore[arg-type]
        rates[v] = rows / wall
        cells = [med(float(x[k]) for x in rs) for k in ("cpu_s", "server_cpu_s", "rss_before_mib",  # type: ignore[arg-type]
                 "peak_rss_mib", "arrow_peak_mib")]  # fmt: skip
        print(f"| {v} | {wall:.2f} | {rates[v]:,.0f} | {cells[0]:.2f} | {cells[1]:.2f} | {cells[2]:.0f} | "
              f"{cells[3]:.0f} | {cells[4]:.0f} | {day_rows / rates[v] / 3600:.2f} |")  # fmt: skip
    if "rows" in rates:
        for v in variants:
            if v != "rows":
                print(f"{v} / rows, wall: {results['rows'] and rates['rows'] / rates[v]:.3f} "
                      f"(speed-up {rates[v] / rates['rows']:.1f}x)")  # fmt: skip
    print("archives of every variant hold the same rows:", same)


if __name__ == "__main__":
    main()
