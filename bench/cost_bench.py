"""Cost Analysis over 30 days: the raw-sample reads against the hourly rollups, in one process.

A fleet of SERVICES services (the demo fleet's services repeated under numbered names), each with
samples from its own placement and five other places, every INTERVAL_S seconds for DAYS days (the
dashboard benchmark's store is 200 services x 30 days x one sample an hour: the default), is written
through the real ingest (COPY into the day partitions on PostgreSQL). Then, side by side:

- *raw, before*: the spend and credits series as ``GET /cost-analysis?days=30`` computed them before
  the rollups (``store/history.py`` over the raw samples, 25,920 s steps);
- *API, raw*: the whole ``GET /cost-analysis?days=30`` (in-process ASGI client) before any hour is
  rolled up: the new code with nothing rolled up reads raw samples;
- ``roll_up``: the maintenance step catching up the whole month, and one more hour (the steady state);
- *API, rollups*: the same request once the hours are rolled up.

    .venv/bin/python bench/cost_bench.py [--services 200] [--days 30] [--interval-s 3600] [--pg] [--runs 5]
        [--raw-runs N]   (the raw paths on PostgreSQL take tens of seconds each)

``--pg`` uses a throwaway database on the server of SWEN_TEST_PG_URL (``source scripts/test-services.sh``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from pg_database import throwaway_database
from swen.api.app import create_app
from swen.config import Settings
from swen.demo.seed import demo_fleet
from swen.domain.keys import Role
from swen.domain.models import Placement, Service, TelemetrySample
from swen.moves.running import running_services
from swen.store import history, rollups
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store

OTHER_PLACES = ["aws/us-east-1", "aws/eu-west-1", "aws/us-west-2", "alibaba/us-west-1", "gcp/us-central1"]
BATCH = 50_000


def big_fleet(count: int) -> list[Service]:
    base = demo_fleet()
    return [
        base[i % len(base)].model_copy(update={"name": f"{base[i % len(base)].name}-{i // len(base):03d}"})
        for i in range(count)
    ]


def samples(
    fleet: list[Service], end: datetime, days: int, interval_s: int
) -> Iterator[list[TelemetrySample]]:
    """Batches of samples, oldest first, the newest at ``end``."""
    steps = days * 86400 // interval_s
    batch: list[TelemetrySample] = []
    for k in range(steps, -1, -1):
        ts = end - timedelta(seconds=k * interval_s)
        for n, svc in enumerate(fleet):
            places = [
                svc.fleet_placement,
                *(Placement.parse(p) for p in OTHER_PLACES if p != svc.fleet_placement.key),
            ]
            for j, where in enumerate(places[:6]):
                batch.append(
                    TelemetrySample(
                        service=svc.name, provider=where.provider, region=where.region, ts=ts,
                        instance_type="m5.large", hourly_cost_usd=0.1 + (n % 17) * 0.01 + j * 0.02,
                        latency_ms=20.0 + (k + n + j) % 90, credits_usd=max(0.0, 5000.0 - k * 0.5),
                        gpu_availability=1.0, availability=0.999, error_rate=0.001,
                        simulated_price=where.provider == "alibaba",
                    )
                )  # fmt: skip
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


@contextmanager
def database(pg: bool, home: Path) -> Iterator[str]:
    if not pg:
        yield f"sqlite:///{home / 'swen.db'}"
        return
    with throwaway_database() as url:
        yield url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=200)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--interval-s", type=int, default=3600)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--raw-runs", type=int, default=None, help="Runs of the raw paths (default: --runs).")
    ap.add_argument("--pg", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.pg, Path(tmp)) as url:
        settings = Settings(home=Path(tmp), database_url=url)
        store = Store.open(settings)
        fleet = big_fleet(args.services)
        store.upsert_services(fleet)
        end = datetime.now(UTC).replace(microsecond=0)
        t0 = time.perf_counter()
        written = sum(store.insert_samples(b) for b in samples(fleet, end, args.days, args.interval_s))
        load_s = time.perf_counter() - t0
        backend = "PostgreSQL (day partitions)" if args.pg else "SQLite"
        print(f"{backend}: {args.services} services, {args.days} days every {args.interval_s} s: "
              f"{written:,} samples written in {load_s:.1f} s")  # fmt: skip

        running = running_services(store, services=fleet)
        where = {name: (r.placement, r.replicas) for name, r in running.items()}
        step_old = -(-args.days * 86400 // 100)
        start_old = end + timedelta(seconds=1) - timedelta(days=args.days)

        def raw_before() -> None:
            history.credits_by_provider(
                store, start=start_old, end=end + timedelta(seconds=1), step_s=step_old
            )
            history.spend_by_provider(
                store, start=start_old, end=end + timedelta(seconds=1), step_s=step_old, running=where
            )

        key = ApiKeyRepository(store).create("bench", Role.VIEWER)[1]
        app = create_app(settings, store=store)
        with TestClient(app) as client:

            def api() -> None:
                r = client.get(f"/cost-analysis?days={args.days}", headers={"Authorization": f"Bearer {key}"})
                r.raise_for_status()

            api()  # warm up (imports, first connections)
            raw_runs = args.raw_runs or args.runs
            # PostgreSQL: the old read's row-value IN of 200 places is JIT-compiled for minutes (LLVM
            # does not stop for a cancel, and holds up DROP DATABASE on a shared server): left out
            raw_reads = [] if args.pg else timed(raw_before, raw_runs)
            api_raw = timed(api, raw_runs)
            t0 = time.perf_counter()
            caught_up = rollups.roll_up(store)
            catch_up_s = time.perf_counter() - t0
            with store.reading("bench") as conn:
                through = rollups.rolled_through(conn)
            assert through is not None
            one_hour = timed(lambda: rollups.roll_hours(store, through - rollups.HOUR, through), 3)
            api_rolled = timed(api, args.runs)

        med = statistics.median
        hour_ms = med(one_hour) * 1000
        print(f"roll_up catch-up: {caught_up.hours} hours, {caught_up.rows:,} rollup rows in "
              f"{catch_up_s:.2f} s; one more hour (steady state): median {hour_ms:.0f} ms")  # fmt: skip
        print(f"{'what':<46} {'median s':>9} {'min s':>7} {'max s':>7}")
        rows = [
            ("spend + credits reads, raw (before this change)", raw_reads),
            (f"GET /cost-analysis?days={args.days}, raw samples", api_raw),
            (f"GET /cost-analysis?days={args.days}, rollups", api_rolled),
        ]
        for label, xs in rows:
            if xs:
                print(f"{label:<46} {med(xs):>9.3f} {min(xs):>7.3f} {max(xs):>7.3f}")
            else:
                print(f"{label:<46} not run on PostgreSQL (minutes of JIT compilation per query)")
        before = (
            f"; API rollups / raw reads before: {med(api_rolled) / med(raw_reads):.2f}" if raw_reads else ""
        )
        print(f"ratio API rollups / API raw: {med(api_rolled) / med(api_raw):.2f}{before}")
        store.close()


if __name__ == "__main__":
    main()
