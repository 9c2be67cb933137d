"""The 30-day spend read of ``GET /cost-analysis`` alone at N services on PostgreSQL (issue 12).

Seeds 30 days of hourly rollups for N services at their running places (``fleet_live_bench``'s
``seed_history``, generated in the database) in a throwaway database, then times
``swen.store.rollups.spend_by_provider`` against the previous implementation (kept below as the
baseline: chunks of 5,000 services, each joining a VALUES list, two GROUP BYs), alternating them in the
same process, and checks both return the same series. Wall time: the work is in the server.

    source scripts/test-services.sh
    cd bench && PYTHONPATH=../src ../.venv/bin/python spend_read_bench.py --services 10000
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Integer, String, and_, column, func, select, values

from fleet_live_bench import big_fleet, seed_history
from pg_database import throwaway_database
from swen.config import Settings
from swen.domain.models import HOURS_PER_MONTH, Placement
from swen.store import rollups
from swen.store.repository import Store
from swen.store.rollups import Series, _bucket, _bucket_start, _split
from swen.store.tables import telemetry_rollups, telemetry_samples

_R = telemetry_rollups.c
_T = telemetry_samples.c


def spend_chunked(
    store: Store, *, start: datetime, end: datetime, step_s: int, running: Mapping[str, tuple[Placement, int]]
) -> Series:
    """The baseline: ``rollups.spend_by_provider`` as it was before this bench (PostgreSQL path)."""
    places = [(name, p.provider, p.region, replicas) for name, (p, replicas) in running.items()]
    totals: dict[tuple[str, int], float] = {}
    with store.reading("reading spend per provider") as conn:
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        split = _split(conn, start, end, step_s)
        b_r = _bucket(conn, _R.hour, start, step_s).label("b")
        b_t = _bucket(conn, _T.ts, start, step_s).label("b")
        for i in range(0, len(places), 5000):
            chunk = places[i : i + 5000]
            where_ = (
                values(
                    column("s", String), column("p", String), column("r", String), column("k", Integer),
                    name="places",
                )
                .data(chunk)
                .cte("places")
            )  # fmt: skip
            on = and_(_R.service == where_.c.s, _R.provider == where_.c.p, _R.region == where_.c.r)
            rolled = (
                select(
                    _R.service.label("s"), _R.provider.label("p"), b_r,
                    func.sum(_R.samples).label("n"), func.sum(_R.hourly_cost_sum).label("c"),
                )
                .select_from(telemetry_rollups.join(where_, on))
                .where(_R.hour >= start, _R.hour < split)
                .group_by(_R.service, _R.provider, b_r)
            )  # fmt: skip
            on_t = and_(_T.service == where_.c.s, _T.provider == where_.c.p, _T.region == where_.c.r)
            raw = (
                select(
                    _T.service.label("s"), _T.provider.label("p"), b_t,
                    func.count().label("n"), func.sum(_T.hourly_cost_usd).label("c"),
                )
                .select_from(telemetry_samples.join(where_, on_t))
                .where(_T.ts >= split, _T.ts < end)
                .group_by(_T.service, _T.provider, b_t)
            )  # fmt: skip
            both = rolled.union_all(raw).subquery("both")
            per_service = (
                select(
                    both.c.p,
                    both.c.b,
                    (func.sum(both.c.c) / func.sum(both.c.n) * func.max(where_.c.k)).label("usd"),
                )
                .select_from(both.join(where_, both.c.s == where_.c.s))
                .group_by(both.c.s, both.c.p, both.c.b)
                .having(func.sum(both.c.n) > 0)
                .subquery("per_service")
            )
            stmt = select(per_service.c.p, per_service.c.b, func.sum(per_service.c.usd)).group_by(
                per_service.c.p, per_service.c.b
            )
            for provider, b, usd in conn.execute(stmt):
                key = (str(provider), int(b))
                totals[key] = totals.get(key, 0.0) + float(usd) * HOURS_PER_MONTH
    out: Series = {}
    for (provider, b), usd in sorted(totals.items()):
        out.setdefault(provider, []).append((_bucket_start(start, b, step_s), usd))
    return out


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
    ap.add_argument("--runs", type=int, default=2, help="timed runs of each (alternating)")
    ap.add_argument("--explain", action="store_true", help="print the new read's EXPLAIN ANALYZE")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, throwaway_database("swen_spend") as url:
        store = Store.open(Settings(home=Path(tmp), database_url=url))
        fleet = big_fleet(args.services)
        store.upsert_services(fleet)
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        t = time.perf_counter()
        rows = seed_history(store, fleet, end, args.days)
        print(f"seeded {rows:,} rollup rows ({args.services:,} services x {args.days} days) in "
              f"{time.perf_counter() - t:.0f} s")  # fmt: skip
        running = {s.name: (s.fleet_placement, 1 + i % 3) for i, s in enumerate(fleet)}
        # the window of GET /cost-analysis?days=30 (api/routers/cost.py: _window)
        now = end + timedelta(minutes=20)
        step = math.ceil(math.ceil(args.days * 86400 / 120) / 3600) * 3600
        start = rollups.floor_hour(now - timedelta(days=args.days))
        kw = {"start": start, "end": now, "step_s": step, "running": running}
        times: dict[str, list[float]] = {"baseline (chunked VALUES)": [], "new": []}
        results = {}
        for _ in range(args.runs):
            for name, fn in (
                ("baseline (chunked VALUES)", spend_chunked),
                ("new", rollups.spend_by_provider),
            ):
                load = os.getloadavg()[0]
                t = time.perf_counter()
                results[name] = fn(store, **kw)  # type: ignore[operator]
                times[name].append(time.perf_counter() - t)
                print(f"  {name}: {times[name][-1]:.2f} s (load {load:.2f})")
        base, new = (min(v) for v in times.values())
        ok = same(results["baseline (chunked VALUES)"], results["new"])
        print(f"spend_by_provider at {args.services:,} services, {args.days} days, step {step} s: baseline "
              f"{base:.2f} s, new {new:.2f} s (best of {args.runs}); ratio {base / new:.1f}x; "
              f"same series: {ok}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
        if not ok:
            raise SystemExit("the new read returned different series")


if __name__ == "__main__":
    main()
