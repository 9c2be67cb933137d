"""The 30-day Cost Analysis at N services on PostgreSQL (issue 12): the request and its reads, before and
after the 6-hour rollups (branch costtab), side by side in one process.

Seeds a throwaway database the way ``fleet_live_bench`` does (``seed_history``: 30 days of hourly
rollups for N services at their running places, in hour order, their provider rollups and their 6-hour
rollups), plus what a live fleet adds on top: ``--raw-ticks`` ticks of raw samples after the last
rolled-up hour (5 s apart, the running place and 10 other places per service: 110,000 samples a tick
at 10,000 services, as the simulator writes them) and the newest sample of every place
(``telemetry_latest``). Then, alternating before and after in the same process:

- the reads of ``GET /cost-analysis?days=30`` one by one: the spend series (before: main's
  ``rollups.spend_by_provider`` before this branch, kept below: the window's 8-hour buckets grouped per
  service from the hourly rollups, plus the raw samples up to now; after: 6-hour buckets from
  ``telemetry_rollups_6h`` up to the last rolled-up hour), the credits series (same windows), where
  each service runs (before: the newest sample of every place read, 110,000 at 10,000 services; after:
  those of the running places only), and the other reads of the request (the fleet, savings, open
  recommendations);
- the whole request through the real API (in-process ASGI client): before is main's handler, kept
  below and mounted at ``/bench/cost-analysis-before`` on the same app; after is ``/cost-analysis``.

Checked: the new spend series equals the hourly read (main's, above) of the same window (the seeded
history has no raw samples under the rollups, so the raw reference read of ``store/history.py`` is
compared in tests/unit/store/test_rollups.py instead). Wall and CPU time (this process; the reads'
work is mostly in the server), and the load average, next to every figure.

    source scripts/test-services.sh
    cd bench && PYTHONPATH=../src:. ../.venv/bin/python spend_read_bench.py --services 10000 --runs 2
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Query
from fastapi.testclient import TestClient
from sqlalchemy import Column, Integer, MetaData, String, Table, and_, func, literal, select, text
from sqlalchemy.types import Interval

from fleet_live_bench import big_fleet, seed_history
from pg_database import throwaway_database
from swen.api.app import create_app
from swen.api.deps import StoreDep, ViewerDep
from swen.api.routers import cost as cost_router
from swen.api.schemas import CostAnalysisOut, CreditsBurndown, CreditsPoint, ProviderSpend, SpendPoint
from swen.config import Settings
from swen.domain.clock import utcnow
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.domain.models import HOURS_PER_MONTH, Placement
from swen.moves import running
from swen.moves.running import RunningService, running_services
from swen.store import maintenance, rollups
from swen.store.keys import ApiKeyRepository
from swen.store.reads import open_recommendations, savings_totals
from swen.store.repository import Store
from swen.store.rollups import Series, _bucket_start, _split, as_utc
from swen.store.tables import UtcDateTime, telemetry_rollups, telemetry_samples

_R = telemetry_rollups.c
_T = telemetry_samples.c
OTHER_PLACES = 10
"""Places per service besides the running one (the simulator samples 11 at today's catalog)."""


# --- before: main's code before this branch ------------------------------------------------------------
def spend_before(
    store: Store, *, start: datetime, end: datetime, step_s: int, running: Mapping[str, tuple[Placement, int]]
) -> Series:
    """``rollups.spend_by_provider`` before this branch (PostgreSQL): every hourly rollup of the window
    and the raw samples after them, grouped per (service, bucket) in one statement."""
    places = [(name, p.provider, p.region, replicas) for name, (p, replicas) in running.items()]
    with store.reading("reading spend per provider") as conn:
        split = _split(conn, start, end, step_s)
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        providers = sorted({p for _, p, _, _ in places})
        number = {p: i for i, p in enumerate(providers)}
        table = Table(
            "spend_places_before", MetaData(),
            Column("i", Integer), Column("s", String), Column("p", String), Column("r", String),
            Column("k", Integer), Column("pi", Integer),
            prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
        )  # fmt: skip
        table.create(conn)
        conn.execute(
            table.insert(),
            [
                {"i": i, "s": s, "p": p, "r": r, "k": k, "pi": number[p]}
                for i, (s, p, r, k) in enumerate(places)
            ],
        )
        conn.exec_driver_sql("ANALYZE spend_places_before")
        pl = table.c
        stride = literal(timedelta(seconds=step_s), Interval)
        origin = literal(start, UtcDateTime)
        rolled = (
            select(
                pl.i, pl.pi, pl.k, func.date_bin(stride, _R.hour, origin).label("b"),
                _R.samples.label("n"), _R.hourly_cost_sum.label("c"),
            )
            .select_from(telemetry_rollups.join(table, and_(_R.service == pl.s, _R.provider == pl.p,
                                                            _R.region == pl.r)))
            .where(_R.hour >= start, _R.hour < split)
        )  # fmt: skip
        raw = (
            select(
                pl.i, pl.pi, pl.k, func.date_bin(stride, _T.ts, origin).label("b"),
                literal(1, Integer).label("n"), _T.hourly_cost_usd.label("c"),
            )
            .select_from(telemetry_samples.join(table, and_(_T.service == pl.s, _T.provider == pl.p,
                                                            _T.region == pl.r)))
            .where(_T.ts >= split, _T.ts < end)
        )  # fmt: skip
        both = rolled.union_all(raw).subquery("both")
        per_service = (
            select(
                both.c.pi,
                both.c.b,
                (func.sum(both.c.c) / func.sum(both.c.n) * func.max(both.c.k)).label("usd"),
            )
            .group_by(both.c.i, both.c.pi, both.c.b)
            .having(func.sum(both.c.n) > 0)
            .subquery("per_service")
        )
        stmt = select(per_service.c.pi, per_service.c.b, func.sum(per_service.c.usd)).group_by(
            per_service.c.pi, per_service.c.b
        )
        totals = {
            (providers[pi], int((as_utc(b) - start).total_seconds()) // step_s): float(usd)
            for pi, b, usd in conn.execute(stmt)
        }
    out: Series = {}
    for (provider, b), usd in sorted(totals.items()):
        out.setdefault(provider, []).append((_bucket_start(start, b, step_s), usd * HOURS_PER_MONTH))
    return out


def window_before(end: datetime, days: int) -> tuple[datetime, int]:
    """``api/routers/cost._window`` before this branch: whole-hour steps (30 days: 8 h), up to now."""
    step = math.ceil(days * 86400 / cost_router.BURNDOWN_POINTS)
    start = end - timedelta(days=days)
    if step < 3600:
        return start, step
    return rollups.floor_hour(start), math.ceil(step / 3600) * 3600


def running_services_before(store: Store, *, services: list[Any]) -> dict[str, RunningService]:
    """``moves.running.running_services`` before this branch: the newest sample of every place read
    (110,000 at 10,000 services) to find the 10,000 where the services run."""
    records = store.placement_records()
    newest = running._newest_by_key(store.latest_samples())
    return {svc.name: running._running(svc, records.get(svc.name), newest) for svc in services}


def cost_analysis_before(
    store: StoreDep, _key: ViewerDep, days: Annotated[int, Query(ge=1, le=90)] = 7
) -> CostAnalysisOut:
    """``GET /cost-analysis`` before this branch (the handler, with the spend read above)."""
    now = utcnow()
    fleet = store.list_services()
    running = running_services_before(store, services=fleet)
    costs = cost_router._service_costs(fleet, running)
    realised, verified = savings_totals(store, [DecisionStatus.VERIFIED], migrations_only=False)
    projected = open_recommendations(store)
    end = cost_router._window_end(now, running)
    start, step = window_before(end, days)
    credits = rollups.credits_by_provider(store, start=start, end=end, step_s=step)
    where = {name: (r.placement, r.replicas) for name, r in running.items()}
    spend = spend_before(store, start=start, end=end, step_s=step, running=where)
    return CostAnalysisOut(
        generated_at=now,
        total_monthly_usd=sum(c.monthly_cost_usd or 0.0 for c in costs),
        services=costs,
        by_provider=cost_router._by_provider(costs),
        savings_realised_monthly_usd=realised,
        verified_decisions=verified,
        savings_projected_monthly_usd=sum(projected.values()),
        open_recommendations=len(projected),
        credits_burndown=[
            CreditsBurndown(provider=p, points=[CreditsPoint(ts=ts, credits_usd=c) for ts, c in points])
            for p, points in credits.items()
        ],
        spend_by_provider=[
            ProviderSpend(provider=p, points=[SpendPoint(ts=ts, monthly_usd=usd) for ts, usd in points])
            for p, points in spend.items()
        ],
        credits_step_s=step,
    )


# --- the live part: raw samples after the rolled-up hours ------------------------------------------
def seed_raw(store: Store, fleet: list[Any], end: datetime, ticks: int) -> int:
    """``ticks`` ticks of raw samples from ``end`` on, 5 s apart, at each service's running place and
    ``OTHER_PLACES`` others, and the newest of each in ``telemetry_latest``; returns the samples."""
    if ticks <= 0:
        return 0
    maintenance.ensure_partitions_ahead(store, end.date(), 1)
    rows = [
        {"s": s.name, "p": s.fleet_placement.provider, "r": s.fleet_placement.region, "n": i}
        for i, s in enumerate(fleet)
    ]
    columns = (
        "service, provider, region, ts, instance_type, hourly_cost_usd, latency_ms, credits_usd, "
        "gpu_availability, availability, error_rate, simulated_price"
    )
    place = "CASE WHEN k = 0 THEN p ELSE 'aws' END, CASE WHEN k = 0 THEN r ELSE 'other-' || k END"
    values = (
        "'m5.large', 0.1 + (n % 17) * 0.01 + (t % 5) * 0.001, 40, 1000 - t, 1, 0.999, 0.001, p = 'alibaba'"
    )
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE raw_places (s text, p text, r text, n int) ON COMMIT DROP"))
        conn.execute(text("INSERT INTO raw_places VALUES (:s, :p, :r, :n)"), rows)
        conn.execute(
            text(
                f"INSERT INTO telemetry_samples ({columns}) "
                f"SELECT s, {place}, :end + t * interval '5 seconds', "
                f"{values} FROM raw_places, generate_series(0, :ticks - 1) t, generate_series(0, :o) k"
            ),
            {"end": end, "ticks": ticks, "o": OTHER_PLACES},
        )
        conn.execute(
            text(
                f"INSERT INTO telemetry_latest ({columns}) SELECT s, {place}, "
                f":end + t * interval '5 seconds', {values} "
                "FROM raw_places, (SELECT :ticks - 1 AS t) last, generate_series(0, :o) k"
            ),
            {"end": end, "ticks": ticks, "o": OTHER_PLACES},
        )
        conn.execute(text("ANALYZE telemetry_samples"))
        conn.execute(text("ANALYZE telemetry_latest"))
    return len(fleet) * ticks * (OTHER_PLACES + 1)


# --- measuring ---------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu, load


def same(a: Series, b: Series) -> bool:
    return a.keys() == b.keys() and all(
        [t for t, _ in a[p]] == [t for t, _ in b[p]]
        and all(math.isclose(x, y, rel_tol=1e-9) for (_, x), (_, y) in zip(a[p], b[p], strict=True))
        for p in a
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--raw-ticks", type=int, default=60, help="5 s ticks of raw samples after the rollups")
    ap.add_argument("--runs", type=int, default=2, help="timed runs of each (alternating)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, throwaway_database("swen_spend") as url:
        settings = Settings(home=Path(tmp), database_url=url)
        store = Store.open(settings)
        fleet = big_fleet(args.services)
        store.upsert_services(fleet)
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        _, wall, _, load = timed(lambda: seed_history(store, fleet, end, args.days))
        hours = args.services * args.days * 24
        print(f"seeded {hours:,} hourly rollup rows and their 6-hour rollups ({args.services:,} services "
              f"x {args.days} days) in {wall:.0f} s (load {load:.2f})")  # fmt: skip
        raw, wall, _, load = timed(lambda: seed_raw(store, fleet, end, args.raw_ticks))
        print(f"seeded {raw:,} raw samples ({args.raw_ticks} ticks after {end:%H:%M} UTC) in {wall:.0f} s "
              f"(load {load:.2f})")  # fmt: skip

        running = running_services(store, services=fleet)
        where = {name: (r.placement, r.replicas) for name, r in running.items()}
        now = cost_router._window_end(utcnow(), running)
        old_start, old_step = window_before(now, args.days)
        new_start, new_step = cost_router._window(now, args.days)
        new_end = cost_router._series_end(store, new_start, now, new_step)
        print(f"windows: before {old_start:%m-%d %H:%M}-{now:%H:%M:%S} step {old_step} s; after "
              f"{new_start:%m-%d %H:%M}-{new_end:%H:%M} step {new_step} s")  # fmt: skip
        reads: dict[str, Callable[[], Any]] = {
            "spend before": lambda: spend_before(
                store, start=old_start, end=now, step_s=old_step, running=where
            ),
            "spend after": lambda: rollups.spend_by_provider(
                store, start=new_start, end=new_end, step_s=new_step, running=where
            ),
            "credits before": lambda: rollups.credits_by_provider(
                store, start=old_start, end=now, step_s=old_step
            ),
            "credits after": lambda: rollups.credits_by_provider(
                store, start=new_start, end=new_end, step_s=new_step
            ),
            "list_services": store.list_services,
            "running_services before": lambda: running_services_before(store, services=fleet),
            "running_services after": lambda: running_services(store, services=fleet),
            "savings + open recommendations": lambda: (
                savings_totals(store, [DecisionStatus.VERIFIED], migrations_only=False),
                open_recommendations(store),
            ),
        }  # fmt: skip
        key = ApiKeyRepository(store).create("bench", Role.VIEWER)[1]
        auth = {"Authorization": f"Bearer {key}"}
        app = create_app(settings, store=store)
        app.add_api_route("/bench/cost-analysis-before", cost_analysis_before, response_model=CostAnalysisOut)
        figures: dict[str, list[tuple[float, float, float]]] = {}
        results: dict[str, Any] = {}
        with TestClient(app) as client:
            requests = {
                "request before": lambda: client.get(
                    f"/bench/cost-analysis-before?days={args.days}", headers=auth
                ),
                "request after": lambda: client.get(f"/cost-analysis?days={args.days}", headers=auth),
            }  # fmt: skip
            for run in range(args.runs):
                for name, fn in {**reads, **requests}.items():
                    out, wall, cpu, load = timed(fn)
                    results[name] = out
                    figures.setdefault(name, []).append((wall, cpu, load))
                    print(
                        f"  run {run + 1} {name}: wall {wall:.2f} s, CPU {cpu:.2f} s (load {load:.2f})",
                        flush=True,
                    )
        for name in requests:
            results[name].raise_for_status()
        print(f"\n{args.services:,} services, {args.days} days, {raw:,} raw samples after the rollups; "
              f"median of {args.runs} (wall / CPU of this process)")  # fmt: skip
        for name, rows in figures.items():
            loads = ", ".join(f"{r[2]:.2f}" for r in rows)
            print(f"  {name:32s} wall {statistics.median(r[0] for r in rows):6.2f} s  CPU "
                  f"{statistics.median(r[1] for r in rows):5.2f} s  (load {loads})")  # fmt: skip
        for what in ("spend", "credits", "running_services", "request"):
            b, a = (statistics.median(r[0] for r in figures[f"{what} {x}"]) for x in ("before", "after"))
            print(f"  {what}: after / before wall {a / b:.3f} ({b / a:.1f}x faster)")
        body = results["request after"].json()
        print(f"  after: step {body['credits_step_s']} s, series end {body['series_end']}, "
              f"{sum(len(s['points']) for s in body['spend_by_provider'])} spend points")  # fmt: skip
        # the same window read as before this branch (every hourly rollup grouped per service)
        hourly = spend_before(store, start=new_start, end=new_end, step_s=new_step, running=where)
        ok = same(results["spend after"], hourly)
        print(f"  the 6-hour read gives the same series as the hourly read of the same window: {ok}")
        if not ok:
            raise SystemExit("the 6-hour read returned a different series")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        store.close()


if __name__ == "__main__":
    main()
