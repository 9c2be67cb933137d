"""The hour's roll-up, the 6-hour rollups, and archiving + dropping a day at 10,000 services (PostgreSQL).

At the production size (10,000 services, 11 places each: 110,000 samples every 5 s, 79 million raw
samples an hour) the maintenance step (``store/maintenance.py``, on its own thread since
``telemetry/maintenance_turns.py``) rolls up each closed hour, rewrites its 6-hour bucket, and archives
and drops each expired day. This bench times those steps on a throwaway PostgreSQL database
(``source scripts/test-services.sh``), with ticks of the same fleet inserted beside them:

1. seed ``--minutes`` minutes of raw telemetry in the first hour of one day (``archive_bench.fill``:
   the pairs of one real simulator tick of ``fleet_live_bench.big_fleet``, repeated every 5 s with
   server-side noise, in tick order, a minute a statement). A full hour (``--minutes 60``, 79 million
   rows, ~20 GB with its indexes) is possible where the disk allows; the default 12 minutes is a fifth
   of an hour and the hour's figures are extrapolated linearly from it (labelled so);
2. tick inserts alone: the real ``Store.insert_sample_batch`` of a real ``Simulator.step_batch`` tick
   (110,000 samples at 10,000 services) every 5 s of wall time, in the next hour of the same day;
3. the roll-up of the seeded hour with ``rollups.roll_hours`` (what ``roll_up`` calls per closed hour:
   the hourly rollups, the per-provider rollups and the hour's 6-hour bucket) while the ticks go on
   every 5 s, on the same data: first in one transaction (``SERVICES_PER_CHUNK = 0``: the hashed
   statement, as before the rollchunk branch), then chunked (a chunk of services per short
   transaction into a temporary table, published in one short transaction), ``--repeat`` times;
   ``telemetry_latest`` is compacted (``VACUUM FULL``) before each so that its growth is the step's;
   with ``--window-baseline`` first the window-function statement before scale10k
   (``before_rollups``); then ticks alone again;
4. the 6-hour rollups of a full bucket: the hour's rollup rows copied to the bucket's 5 other hours,
   then ``rollups._rewrite_buckets`` of that bucket (660,000 hourly rows into 110,000 bucket rows at
   10,000 services: the production size, nothing extrapolated);
5. archiving the day (``maintenance.archive_day``: Parquet in a local folder through fsspec, ADBC
   reader) and dropping it (``maintenance.drop_day``: lock, count, DETACH, DROP), with the ticks moved
   to the next day (an expired day takes no inserts); a full day (1.9 billion rows) is extrapolated
   linearly from the rows archived.

Per step: wall s, client CPU s (this process), server CPU s (the backends of the step's own engine
and their parallel workers, and the archive's ADBC reader, read from /proc every 0.2 s: the server
runs on this machine), temporary files written (``pg_stat_database.temp_bytes``), the database's size,
and the tick inserts during the step against the ticks alone (median and max). The load average is
printed next to every figure.

    source scripts/test-services.sh
    cd bench && PYTHONPATH=../src:. ../.venv/bin/python rollup10k_bench.py [--services 10000]
        [--minutes 12] [--alone-ticks 6] [--no-archive] [--repeat 1] [--chunked-first] [--window-baseline]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import text

from archive_bench import DAY, TICK_S, fill, fleet_pairs
from fleet_live_bench import big_fleet
from pg_database import throwaway_database
from swen.config import Settings
from swen.store import maintenance, rollups
from swen.store.db import write_transaction
from swen.store.repository import Store
from swen.telemetry.price_versions import peek_catalog
from swen.telemetry.simulator import Simulator

HOUR = timedelta(hours=1)
TICKS_PER_HOUR = 3600 // TICK_S
TICKS_PER_DAY = 24 * TICKS_PER_HOUR
T = TypeVar("T")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_of(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


STEPS_APP = "swen-bench-steps"
"""``application_name`` of the steps' connections (how the CPU sampler finds their backends)."""


class ServerCpu:
    """CPU seconds of the steps' backends (``application_name`` STEPS_APP), their parallel workers and
    the archive's ADBC reader, sampled from /proc every ``every_s`` (a worker's last fraction of a
    sampling period is missed)."""

    def __init__(self, admin_url: str, every_s: float = 0.2) -> None:
        self.admin_url, self.every_s = admin_url, every_s

    @contextmanager
    def watching(self) -> Iterator[dict[int, float]]:
        """Yields {pid: CPU s used since the start}, filled while the block runs."""
        from swen.store.archive import READER_NAME

        used: dict[int, float] = {}
        first: dict[int, float] = {}
        stop = threading.Event()

        def sample(conn: psycopg.Connection[Any], *, initial: bool = False) -> None:
            rows = conn.execute(
                "WITH ours AS (SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name IN (%s, %s)) "
                "SELECT pid FROM ours UNION SELECT pid FROM pg_stat_activity "
                "WHERE leader_pid IN (SELECT pid FROM ours)",
                (STEPS_APP, READER_NAME),
            ).fetchall()
            for (pid,) in rows:
                cpu = _cpu_of(pid)
                if cpu is None:
                    continue
                # a backend seen at the start counts from then, a new one (a pool connection, a
                # parallel worker, the reader) from zero
                start = first.setdefault(pid, cpu if initial else 0.0)
                used[pid] = cpu - start

        def run() -> None:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                while True:
                    sample(conn)
                    if stop.wait(self.every_s):
                        sample(conn)
                        return

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            sample(conn, initial=True)  # our idle backends' CPU so far: the baseline
        thread = threading.Thread(target=run, name="server-cpu", daemon=True)
        thread.start()
        try:
            yield used
        finally:
            stop.set()
            thread.join()


class Ticker:
    """Real ticks of the fleet (``Simulator.step_batch`` -> ``Store.insert_sample_batch``) every
    ``interval_s`` of wall time on a thread, each insert timed; the simulated clock is set per phase."""

    def __init__(self, store: Store, sim: Simulator, interval_s: float) -> None:
        self.store, self.sim, self.interval_s = store, sim, interval_s
        self.clock = datetime.min.replace(tzinfo=UTC)
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> float:
        batch = self.sim.step_batch(self.clock)
        t = time.perf_counter()
        self.store.insert_sample_batch(batch)
        took = time.perf_counter() - t
        self.clock += timedelta(seconds=TICK_S)
        self.times.append(took)
        return took

    def start(self) -> None:
        self._stop.clear()
        self.times = []

        def run() -> None:
            due = time.perf_counter()
            while not self._stop.is_set():
                self.tick()
                due += self.interval_s
                self._stop.wait(max(0.0, due - time.perf_counter()))

        self._thread = threading.Thread(target=run, name="ticker", daemon=True)
        self._thread.start()

    def stop(self) -> list[float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.times

    def alone(self, n: int) -> list[float]:
        """``n`` ticks on the same schedule with nothing else running."""
        self.start()
        while len(self.times) < n:
            time.sleep(0.1)
        return self.stop()


@dataclass
class Step:
    name: str
    wall: float
    client_cpu: float
    server_cpu: float
    temp_mb: float
    ticks: list[float]
    load_start: str
    load_end: str
    extra: dict[str, float] = field(default_factory=dict)
    latest: tuple[float, float] = (0.0, 0.0)


def latest_mb(store: Store) -> float:
    """Size of ``telemetry_latest`` (the ticks' upsert target: it grows while a long statement holds
    back the pruning of its old row versions)."""
    with store.engine.connect() as conn:
        size = conn.execute(text("SELECT pg_total_relation_size('telemetry_latest')")).scalar_one()
    return int(size) / 2**20


def compact_latest(store: Store) -> None:
    """``VACUUM FULL telemetry_latest``: the table rewritten without dead versions or free space, so
    that its growth during the next step is that step's alone."""
    with store.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM (FULL, ANALYZE) telemetry_latest"
        )


def temp_bytes(conn: Any) -> int:
    query = "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
    return int(conn.execute(text(query)).scalar_one())


def db_size_mb(store: Store) -> float:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()) / 2**20


def timed_step(
    name: str, store: Store, cpu: ServerCpu, ticker: Ticker | None, run: Callable[[], T]
) -> tuple[Step, T]:
    """Run ``run`` with the ticks going on beside it (if ``ticker``), measured."""
    with store.engine.connect() as conn:
        temp0 = temp_bytes(conn)
    latest0 = latest_mb(store)
    load_start = load()
    if ticker is not None:
        ticker.start()
    with cpu.watching() as used:
        c0, t0 = time.thread_time(), time.perf_counter()
        result = run()
        wall, client = time.perf_counter() - t0, time.thread_time() - c0
    ticks = ticker.stop() if ticker is not None else []
    with store.engine.connect() as conn:
        temp = (temp_bytes(conn) - temp0) / 2**20
    step = Step(name, wall, client, sum(used.values()), temp, ticks, load_start, load())
    step.latest = (latest0, latest_mb(store))
    print(f"  {name}: wall {wall:.1f} s, client CPU {client:.2f} s, server CPU {step.server_cpu:.1f} s, "
          f"temp files {temp:.0f} MB, {tick_summary(ticks)}, telemetry_latest {latest0:.0f} -> "
          f"{step.latest[1]:.0f} MB (load {load_start} -> {step.load_end})", flush=True)  # fmt: skip
    return step, result


def tick_summary(ticks: list[float]) -> str:
    if not ticks:
        return "no ticks"
    return f"{len(ticks)} ticks: insert median {statistics.median(ticks):.2f} s, max {max(ticks):.2f} s"


def before_rollups(conn: Any, lo: datetime, hi: datetime) -> None:
    """The roll-up statement before this branch (kept here as the baseline): window functions over
    every row of the hour (``rollups._rollup_select``, which SQLite still uses), default settings."""
    stmt = rollups.telemetry_rollups.insert().from_select(
        rollups._ROLLUP_COLUMNS, rollups._rollup_select(conn, lo, hi)
    )
    conn.execute(stmt)


@contextmanager
def swapped(module: Any, name: str, value: Any) -> Iterator[None]:
    """``module.name`` replaced by ``value`` (unless None) for the block."""
    kept = getattr(module, name)
    if value is not None:
        setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, kept)


def spread_hour(store: Store, hour: datetime) -> int:
    """Copy ``hour``'s rollup rows to the other 5 hours of its 6-hour bucket (each a full hour of the
    fleet for the bucket rewrite); returns the bucket's hourly rows."""
    bucket = rollups.floor_bucket(hour)
    with store.engine.begin() as conn:
        for k in range(6):
            h = bucket + k * HOUR
            if h == hour:
                continue
            conn.execute(
                text(
                    "INSERT INTO telemetry_rollups SELECT service, provider, region, "
                    "CAST(:h AS timestamptz), samples, instance_type, hourly_cost_sum, credits_sum, "
                    "latency_sum, latency_p95, availability_sum, availability_min, error_rate_sum, "
                    "gpu_availability_sum, simulated_price FROM telemetry_rollups WHERE hour = :src"
                ),
                {"h": h, "src": hour},
            )
        conn.execute(text("ANALYZE telemetry_rollups"))
        n = conn.execute(
            text("SELECT count(*) FROM telemetry_rollups WHERE hour >= :lo AND hour < :hi"),
            {"lo": bucket, "hi": bucket + 6 * HOUR},
        ).scalar_one()
    return int(n)


def rewrite_bucket(store: Store, bucket: datetime) -> int:
    with write_transaction(store.engine, pg_lock_key=None) as conn:
        rollups._rewrite_buckets(conn, bucket, bucket + rollups.BUCKET)
        n = conn.execute(
            text("SELECT count(*) FROM telemetry_rollups_6h WHERE bucket = :b"), {"b": bucket}
        ).scalar_one()
    return int(n)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--minutes", type=float, default=12.0, help="minutes of raw ticks seeded (60: an hour)")
    ap.add_argument("--alone-ticks", type=int, default=6, help="ticks alone before and after the roll-up")
    ap.add_argument("--no-archive", dest="archive", action="store_false", help="skip archive and drop")
    ap.add_argument(
        "--window-baseline",
        action="store_true",
        help="also the window-function statement before scale10k (minutes of CPU)",
    )
    ap.add_argument("--chunked-first", action="store_true", help="the chunked roll-up before the other")
    ap.add_argument(
        "--repeat", type=int, default=1, help="roll-ups one transaction / chunked, this many times"
    )
    args = ap.parse_args()

    print(f"load average at start: {load()}; {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp, throwaway_database("swen_rollup10k") as url:
        settings = Settings(home=Path(tmp), database_url=url)
        # the steps' engine, its backends named (their CPU is measured), and the ticks' own engine, as
        # the simulator's process has
        named = f"{url}?application_name={STEPS_APP}"
        store = Store.open(settings.model_copy(update={"database_url": named}))
        tick_store = Store.open(settings)
        cpu = ServerCpu(url.replace("postgresql+psycopg", "postgresql"))
        fleet = big_fleet(args.services)
        store.upsert_services(fleet)
        pairs = fleet_pairs(args.services)
        seeded_ticks = round(args.minutes * 60 / TICK_S)
        t = time.perf_counter()
        rows = fill(url, pairs, seeded_ticks * len(pairs))
        day_mb = db_size_mb(store)
        print(f"seeded {rows:,} raw samples ({seeded_ticks} ticks of {len(pairs):,}: {args.minutes:g} min of "
              f"{DAY} 00:00) in {time.perf_counter() - t:.0f} s; database {day_mb:,.0f} MB "
              f"(load {load()})", flush=True)  # fmt: skip

        hour = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
        sim = Simulator(fleet, peek_catalog(store), 7, hour + HOUR, settings.sim_interval_s)
        ticker = Ticker(tick_store, sim, settings.sim_interval_s)
        ticker.clock = hour + HOUR
        ticker.tick()  # warm-up: telemetry_latest's rows are inserted, plans cached; not counted
        steps: list[Step] = []

        print(f"ticks alone ({args.alone_ticks}, one every {settings.sim_interval_s:g} s):", flush=True)
        before = Step("ticks alone, before", 0, 0, 0, 0, ticker.alone(args.alone_ticks), load(), load())
        print(f"  {tick_summary(before.ticks)} (load {before.load_end})", flush=True)

        print("the roll-up of the seeded hour (rollups.roll_hours, the call roll_up makes per closed "
              "hour), ticks beside it; in one transaction and chunked:")  # fmt: skip
        variants: list[tuple[str, Any, int | None]] = [
            ("roll-up, one transaction", None, 0),
            ("roll-up, chunked", None, None),
        ]
        if args.chunked_first:
            variants.reverse()
        if args.window_baseline:
            variants.insert(0, ("roll-up before", before_rollups, 0))
        for _ in range(args.repeat - 1):
            variants += variants[-2:]
        for name, variant, per_chunk in variants:
            compact_latest(store)  # each variant starts from a compact telemetry_latest
            with (
                swapped(rollups, "_insert_rollups", variant),
                swapped(rollups, "SERVICES_PER_CHUNK", per_chunk),
            ):
                step, n = timed_step(
                    name, store, cpu, ticker, lambda: rollups.roll_hours(store, hour, hour + HOUR)
                )
            step.extra = {"rows": n}
            steps.append(step)
        after = Step("ticks alone, after", 0, 0, 0, 0, ticker.alone(args.alone_ticks), load(), load())
        print(f"  ticks alone after: {tick_summary(after.ticks)} (load {after.load_end})", flush=True)

        print("the 6-hour bucket of a full 6 hours (the hour's rollups copied to its 5 other hours):")
        hourly = spread_hour(store, hour)
        bucket = rollups.floor_bucket(hour)
        step, n6 = timed_step("6-hour rewrite", store, cpu, ticker, lambda: rewrite_bucket(store, bucket))
        step.extra = {"hourly_rows": hourly, "bucket_rows": n6}
        steps.append(step)

        archived = None
        if args.archive:
            ticker.clock = hour + 24 * HOUR  # the next day: the archived day is closed
            total_mb = db_size_mb(store)
            archive = maintenance.archive_for(settings)
            step, archived = timed_step(
                "archive the day", store, cpu, ticker, lambda: maintenance.archive_day(store, archive, DAY)
            )
            size = Path(archived.path).stat().st_size / 2**20
            step.extra = {"rows": archived.rows, "parquet_mb": size}
            steps.append(step)
            step, dropped = timed_step(
                "drop the day", store, cpu, ticker, lambda: maintenance.drop_day(store, DAY, archived.rows)
            )
            step.extra = {"rows": dropped, "freed_mb": total_mb - db_size_mb(store)}
            steps.append(step)

        report(args, rows, seeded_ticks, len(pairs), before, after, steps, day_mb)
        tick_store.close()
        store.close()


def report(
    args: argparse.Namespace,
    rows: int,
    seeded_ticks: int,
    per_tick: int,
    before: Step,
    after: Step,
    steps: list[Step],
    day_mb: float,
) -> None:
    alone = before.ticks + after.ticks
    base = statistics.median(alone) if alone else float("nan")
    print(f"\n{args.services:,} services, {per_tick:,} samples a tick; {rows:,} raw samples seeded "
          f"({seeded_ticks} of an hour's {TICKS_PER_HOUR} ticks); database after seeding "
          f"{day_mb:,.0f} MB")  # fmt: skip
    print(f"ticks alone: {tick_summary(alone)} (before: load {before.load_end}; after: load "
          f"{after.load_end})")  # fmt: skip
    scale_hour = TICKS_PER_HOUR / seeded_ticks
    print(
        "| step | wall s | client CPU s | server CPU s | temp MB | tick insert beside it: median / max s "
        "(alone: median) | telemetry_latest MB | load start -> end | notes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in steps:
        beside = (
            f"{statistics.median(s.ticks):.2f} / {max(s.ticks):.2f} ({len(s.ticks)} ticks; alone {base:.2f})"
            if s.ticks
            else "-"
        )
        notes = ", ".join(f"{k} {v:,.0f}" for k, v in s.extra.items())
        print(f"| {s.name} | {s.wall:.1f} | {s.client_cpu:.2f} | {s.server_cpu:.1f} | {s.temp_mb:.0f} | "
              f"{beside} | {s.latest[0]:.0f} -> {s.latest[1]:.0f} | {s.load_start} -> {s.load_end} | "
              f"{notes} |")  # fmt: skip
    by = {s.name: s for s in steps}
    single, chunked = by.get("roll-up, one transaction"), by.get("roll-up, chunked")
    if single is not None and chunked is not None:

        def growth(s: Step) -> float:
            return (s.latest[1] - s.latest[0]) / max(1, len(s.ticks))

        print(f"  chunked / one transaction (same run, same data; the last of each): wall "
              f"{chunked.wall / single.wall:.2f}, "
              f"server CPU {chunked.server_cpu / single.server_cpu:.2f}, tick insert median "
              f"{statistics.median(chunked.ticks) / statistics.median(single.ticks):.2f}, telemetry_latest "
              f"growth a tick {growth(single):.1f} -> {growth(chunked):.1f} MB")  # fmt: skip
    print("\nextrapolated linearly (labelled: not measured at this size):")
    for name in ("roll-up before", "roll-up, one transaction", "roll-up, chunked"):
        if name not in by or scale_hour == 1:
            continue
        r = by[name]
        print(f"  {name}: the roll-up of a full hour ({TICKS_PER_HOUR} ticks, "
              f"{per_tick * TICKS_PER_HOUR:,} samples): x{scale_hour:.1f} -> wall "
              f"{r.wall * scale_hour:.0f} s, server CPU {r.server_cpu * scale_hour:.0f} s "
              f"(of the 3,600 s it has)")  # fmt: skip
    if "archive the day" in by:
        a = by["archive the day"]
        scale_day = per_tick * TICKS_PER_DAY / a.extra["rows"]
        print(f"  archiving a full day ({per_tick * TICKS_PER_DAY:,} samples): x{scale_day:.0f} -> wall "
              f"{a.wall * scale_day / 3600:.2f} h, client CPU {a.client_cpu * scale_day / 3600:.2f} h, "
              f"server CPU {a.server_cpu * scale_day / 3600:.2f} h, Parquet "
              f"{a.extra['parquet_mb'] * scale_day / 1024:.0f} GB")  # fmt: skip
        d = by.get("drop the day")
        if d is not None:
            print(f"  dropping a full day: x{scale_day:.0f} -> wall {d.wall * scale_day:.0f} s (the count; "
                  f"DETACH and DROP do not grow with the rows)")  # fmt: skip


if __name__ == "__main__":
    main()
