"""The 30-day Cost Analysis tab in a real browser at 10,000 services on PostgreSQL (issue 12: <= 3 s).

The fleet and its 30 days of history are seeded the way bench/fleet_live_bench.py seeds them (its
functions, reused): the packaged default fleet repeated under numbered names, the hourly and 6-hour
rollups of each service's running place generated in the database, then real simulator ticks (the
code of ``swen simulate``) so every service has latest samples, and one advising-only engine cycle
(placements, recommendations). ``swen api`` and ``swen dashboard`` then run as processes on loopback
and Debian's Chromium (Playwright) loads ``/?tab=Cost+Analysis&cost-range=30+days`` on a fresh page
after the dashboard's API cache expired; the clock stops when the tab is fully drawn
(swen.demo.browser.wait_drawn: header, every chart's SVG, key texts, no script running). In the same
run, right after each load, ``GET /cost-analysis?days=30`` alone is timed against the same API
process (over HTTP, as the dashboard calls it), so the tab's figure can be split into the API's share
and the rest (the dashboard's own work and the browser's drawing).

    source scripts/test-services.sh
    .venv/bin/python bench/cost_tab_bench.py [--services 10000] [--runs 3]

``--live``: the same loads WHILE the fleet runs (issue 12's goal is the tab with the fleet live): after
the history, the simulator (its own process, speed 1, the 5 s interval) and the engine with its action
workers and the stand-in driver start as bench/fleet_live_bench.py runs them (its ``LiveFleet``); once
the engine's first cycle with telemetry is done (placements recorded, ~1,000 recommendations queued),
the tab is loaded every ``--every-s`` until ``--minutes`` of fleet have passed (the machine is shared:
keep it short). Each load is reported with the API alone right after it and the load average.

    .venv/bin/python bench/cost_tab_bench.py --live [--services 10000] [--minutes 3] [--every-s 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from fleet_live_bench import REAL_ACTION_S, LiveFleet, big_fleet, database, seed_history
from swen.api.app import create_app
from swen.config import Settings
from swen.dashboard.client import ApiClient
from swen.dashboard.data import CACHE_TTL_S
from swen.demo.browser import chromium_page, navigation_timing, open_tab, warm_up
from swen.demo.harness import chromium_missing_reason, running_platform
from swen.domain.keys import Role
from swen.loop import EngineLoop
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store
from swen.telemetry.runner import run_simulator

GOAL_S = 3.0
TAB, QUERY = "Cost Analysis", "cost-range=30+days"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def seed(settings: Settings, services: int, days: int, ticks: int) -> str:
    """The fleet, its history, ``ticks`` real simulator ticks and one engine cycle; an operator key."""
    with Store.open(settings) as store:
        fleet = big_fleet(services)
        store.upsert_services(fleet)
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        t = time.perf_counter()
        rows = seed_history(store, fleet, end, days)
        print(f"history: {rows:,} hourly rollup rows seeded in {time.perf_counter() - t:.1f} s", flush=True)
        if not ticks:
            return ApiKeyRepository(store).create("bench", Role.OPERATOR)[1]
        t = time.perf_counter()
        run = run_simulator(settings, store, speed=1e9, max_steps=ticks, services=fleet, seed=7)
        print(f"simulator: {run.steps} ticks, {run.samples:,} samples in {time.perf_counter() - t:.1f} s",
              flush=True)  # fmt: skip
        t = time.perf_counter()
        report = EngineLoop(settings, store).cycle()
        print(f"engine cycle (advising only): {len(report.recommendations)} recommendations in "
              f"{time.perf_counter() - t:.1f} s", flush=True)  # fmt: skip
        return ApiKeyRepository(store).create("bench", Role.OPERATOR)[1]


def reads(url: str, key: str, days: int) -> dict[str, float]:
    """Each API read of the tab alone, through the dashboard's own client (HTTP + JSON + parsing)."""
    api = ApiClient(url, key)
    timed: dict[str, float] = {}
    t = time.perf_counter()
    cost = api.cost_analysis(days=days)
    timed[f"cost_analysis(days={days})"] = time.perf_counter() - t
    t = time.perf_counter()
    api.decisions(limit=200)
    api.decisions(status="verified", limit=200)
    timed["decisions x2 (limit 200)"] = time.perf_counter() - t
    start = min((p.ts for s in cost.spend_by_provider for p in s.points[:1]), default=None)
    if start is not None:
        t = time.perf_counter()
        api.first_sample_time(start, start + timedelta(seconds=cost.credits_step_s))
        timed["first_sample_time"] = time.perf_counter() - t
    return timed


def load_once(page: Any, platform: Any, api: httpx.Client, days: int) -> tuple[float, float]:
    """One cold load of the tab (the dashboard's API cache expired), then the API alone: seconds each."""
    page.goto("about:blank")
    time.sleep(CACHE_TTL_S + 0.5)  # the dashboard's API cache has expired: a cold render
    seconds = open_tab(page, platform.dashboard_url, TAB, query=QUERY, timeout_s=120)
    t = time.perf_counter()
    api.get("/cost-analysis", params={"days": days}, timeout=120).raise_for_status()
    return seconds, time.perf_counter() - t


class InProcessApi:
    """The API in this process (ASGI, its own listener), to time the route alone (no HTTP) and to see
    whether it served what it keeps in memory (``app.state.memo``; absent before that change)."""

    def __init__(self, settings: Settings, store: Store, key: str) -> None:
        self.app = create_app(settings, store=store)
        self.client = TestClient(self.app).__enter__()
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, days: int) -> float:
        t = time.perf_counter()
        self.client.get("/cost-analysis", params={"days": days}, headers=self.headers).raise_for_status()
        return time.perf_counter() - t

    def memo(self) -> str:
        memo = getattr(self.app.state, "memo", None)
        return "nothing kept" if memo is None else f"kept inputs served {memo.hits}, read {memo.misses}"

    def close(self) -> None:
        self.client.__exit__(None, None, None)


def live(
    args: argparse.Namespace, settings: Settings, url: str, home: str
) -> tuple[list[float], list[float]]:
    """The tab loaded every ``every_s`` while the simulator and the engine run (``--live``)."""
    key = seed(settings, args.services, args.days, 0)
    tab_s: list[float] = []
    api_s: list[float] = []
    with (
        Store.open(settings) as store,
        running_platform(settings, key) as platform,
        chromium_page() as page,
        httpx.Client(base_url=platform.api_url, headers={"Authorization": f"Bearer {key}"}) as api,
    ):
        warm_up(page, platform.dashboard_url, timeout_s=180)  # before the fleet: its minutes are timed
        in_process = InProcessApi(settings, store, key)
        fleet = LiveFleet.start(settings, store, url, home, args.services, args.action_cost_s)
        done = threading.Event()

        def collect() -> None:
            while not done.is_set() and fleet.collect():
                pass

        drain = threading.Thread(target=collect, daemon=True)
        drain.start()
        try:
            while not any(row.ticks for row in fleet.loop.rows):  # the engine's first real cycle
                if time.perf_counter() - fleet.t0 > args.minutes * 60:
                    print("no engine cycle with telemetry within --minutes: nothing timed")
                    break
                time.sleep(1)
            run = 0
            while time.perf_counter() - fleet.t0 < args.minutes * 60:
                started = time.perf_counter()
                run += 1
                seconds, alone = load_once(page, platform, api, args.days)
                tab_s.append(seconds)
                api_s.append(alone)
                wall = in_process.get(args.days)
                print(f"run {run} at {started - fleet.t0:4.0f} s of fleet: tab fully drawn {seconds:.2f} s; "
                      f"GET /cost-analysis?days={args.days} alone {alone:.2f} s (in-process {wall:.2f} s; "
                      f"{in_process.memo()}); {len(fleet.ticks)} ticks stored; load average "
                      f"{load()}", flush=True)  # fmt: skip
                time.sleep(max(0.0, args.every_s - (time.perf_counter() - started)))
        finally:
            in_process.close()
            done.set()
            fleet.stop(join_s=30)
            drain.join(timeout=5)
    cycles = [row.seconds for row in fleet.loop.rows if row.ticks]
    print(f"fleet: {len(fleet.ticks)} ticks stored, {len(fleet.loop.rows)} engine cycles "
          f"({', '.join(f'{c:.1f}' for c in cycles)} s with telemetry)", flush=True)  # fmt: skip
    return tab_s, api_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--ticks", type=int, default=2, help="real simulator ticks after the history")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--live", action="store_true", help="load the tab while the simulator and engine run")
    ap.add_argument("--minutes", type=float, default=3.0, help="--live: minutes of fleet (keep it short)")
    ap.add_argument("--every-s", type=float, default=15.0, help="--live: a load every this many seconds")
    ap.add_argument("--action-cost-s", type=float, default=REAL_ACTION_S, help="--live: stand-in move cost")
    args = ap.parse_args()
    reason = chromium_missing_reason()
    if reason is not None:
        print(f"cost tab bench skipped: {reason}")
        return 0
    for key in [k for k in os.environ if k.startswith("SWEN_") and k != "SWEN_TEST_PG_URL"]:
        del os.environ[key]
    print(f"load average at start: {load()}; {os.cpu_count()} CPUs", flush=True)
    if args.live:
        with tempfile.TemporaryDirectory(prefix="swen-cost-tab-") as tmp, database() as url:
            live_tab, live_api = live(args, Settings(home=Path(tmp), database_url=url), url, tmp)
        return summary(args, live_tab, live_api, "with the fleet live")
    tab_s: list[float] = []
    api_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="swen-cost-tab-") as tmp, database() as url:
        settings = Settings(home=Path(tmp), database_url=url)
        key = seed(settings, args.services, args.days, args.ticks)
        with running_platform(settings, key) as platform, chromium_page() as page:
            warm_up(page, platform.dashboard_url, timeout_s=180)
            with httpx.Client(base_url=platform.api_url, headers={"Authorization": f"Bearer {key}"}) as api:
                for run in range(1, args.runs + 1):
                    seconds, alone = load_once(page, platform, api, args.days)
                    nav = navigation_timing(page)
                    api_s.append(alone)
                    tab_s.append(seconds)
                    print(f"run {run}: tab fully drawn {seconds:.2f} s; GET /cost-analysis?days={args.days} "
                          f"alone {api_s[-1]:.2f} s; TTFB {nav['ttfb']:.0f} ms; load average {load()}",
                          flush=True)  # fmt: skip
            print("the tab's API reads, each alone through the dashboard's client (parsing included):")
            for what, seconds in reads(platform.api_url, key, args.days).items():
                print(f"  {what}: {seconds:.2f} s")
            print(f"  (load average {load()})")
    return summary(args, tab_s, api_s, "on a still store")


def summary(args: argparse.Namespace, tab_s: list[float], api_s: list[float], how: str) -> int:
    if not tab_s:
        print("no load of the tab was timed")
        return 1
    tab, api_med = statistics.median(tab_s), statistics.median(api_s)
    verdict = "PASS" if tab <= GOAL_S else "FAIL"
    print(f"\n{args.services} services, {args.days} days, {how}, median of {len(tab_s)}: tab fully drawn "
          f"{tab:.2f} s (max {max(tab_s):.2f} s), API alone {api_med:.2f} s (the rest, dashboard + browser: "
          f"{tab - api_med:.2f} s); load average {load()}")  # fmt: skip
    print(f"[{verdict}] the 30-day Cost Analysis tab at {args.services} services {how} <= {GOAL_S:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
