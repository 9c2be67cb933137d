"""A live fleet on PostgreSQL (issue 12's last benchmark): N services for M minutes at the 5 s interval.

What runs, for real, on a throwaway PostgreSQL database (``source scripts/test-services.sh``):

- the fleet: the packaged default fleet (``swen/data/fleet.yaml``, 10 services) repeated under numbered
  names (``service-2-00042``), as the issue's earlier 10,000-service measurement did. One service in
  ten (the copies of ``service-2``) has a clear recommendation, so 10,000 services give ~1,000
  recommendations pending at once;
- the simulator (``telemetry.runner.run_simulator``, the code of ``swen simulate``) in its own process
  at the default ``sim_interval_s`` (5 s) and speed 1 (simulated time = wall time), writing through the
  real ingest (COPY into the day partitions) and running the maintenance step;
- the engine (``loop.EngineLoop.run``, the code of ``swen engine``) in this process, at the default
  ``engine_interval_s`` (30 s), with the durable action queue, its ``SWEN_ACTION_WORKERS`` workers and
  the change budget (``budget_fleet_mrs`` ...; config.py defaults);
- the driver is a stand-in (like bench/action_queue_bench.py's): carrying a move sleeps
  ``--action-cost-s`` (default 3.7 s, the measured cost of a real git push + MR + pipeline; git,
  GitLab and Terraform are benched in bench/gitops_week_bench.py and bench/pipeline_bench.py) and then
  opens the move's merge request on the local, store-backed MR host (``LocalMergeRequestHost``) and
  records it with the lifecycle (``mr_opened``). The MR then waits for a person, as a move the gate
  sends to review does, so the change budget's open-MR limit is what holds the queue;
- 30 days of history for the Cost Analysis tab: too big to simulate live (10,000 services x 6 places x
  720 ticks an hour), so the hours before the run are seeded the way the rollups hold them
  (``telemetry_rollups``: one row per service an hour at its running place, which is what
  ``GET /cost-analysis`` reads; ``telemetry_provider_rollups``: per provider an hour;
  ``telemetry_rollups_6h``: those hours summed per 6-hour bucket), written in the database by
  ``generate_series``. The rollups of the other candidate places are left out (the request
  never reads them). The live hour is read from raw samples, as in production.

Reported: every engine cycle (duration against the engine interval, ticks evaluated, recommendations,
actions queued), the ingestion over time (samples produced and stored, insert time per tick, lag of the
newest stored sample behind the simulated clock), the open MRs against the budget, and at the end (with
the simulator and the engine still running) ``GET /cost-analysis?days=30`` through the real API
(in-process ASGI client), then one advising-only cycle (no actuator, a fresh window) on the same store
as the baseline. A pass/fail line per goal closes the output.

    source scripts/test-services.sh
    .venv/bin/python bench/fleet_live_bench.py [--services 10000] [--minutes 10] [--action-cost-s 3.7]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import queue
import statistics
import tempfile
import threading
import time
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from pg_database import throwaway_database
from swen.api.app import create_app
from swen.config import Settings
from swen.domain.clock import utcnow
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.domain.merge_requests import MRKind
from swen.domain.models import Service
from swen.gitops.branch import BranchKind, branch_name
from swen.gitops.mr_hosts import LocalMergeRequestHost
from swen.loop import CycleReport, EngineLoop
from swen.moves.lifecycle import Lifecycle
from swen.moves.queue import ChangeBudget
from swen.store.actions import ActionQueue
from swen.store.keys import ApiKeyRepository
from swen.store.mrs import PipelineRepository
from swen.store.repository import Store
from swen.telemetry.fleet import load_fleet

REAL_ACTION_S = 3.7
"""A real proposal (git push, merge request, pipeline), as measured for issue 12."""
HOUR = timedelta(hours=1)


def big_fleet(count: int) -> list[Service]:
    """The packaged default fleet repeated under numbered names (the issue's 10,000-service fleet)."""
    base = load_fleet()
    return [
        base[i % len(base)].model_copy(update={"name": f"{base[i % len(base)].name}-{i // len(base):05d}"})
        for i in range(count)
    ]


# --- the stand-in driver ---------------------------------------------------------------------------
class StandInDriver:
    """Sleeps ``cost_s`` per move (git push + pipeline), then opens the MR on the local MR host and
    records it (``mr_opened``); the MR waits for a person. Withdrawals close it for real."""

    def __init__(self, store: Store, cost_s: float) -> None:
        self.store = store
        self.cost_s = cost_s
        self.lifecycle = Lifecycle(store)
        self.host = LocalMergeRequestHost(store)
        self.runs = PipelineRepository(store)
        self.opened = 0
        self._lock = threading.Lock()

    def carry(self, decision_id: str) -> str:
        stored = self.store.get_decision(decision_id)
        if stored.status is not DecisionStatus.PROPOSED:
            return "nothing to do"
        time.sleep(self.cost_s)
        d = stored.decision
        kind = BranchKind.EMERGENCY if d.emergency else BranchKind.RECOMMENDATION
        branch = branch_name(kind, d.service, d.target.provider, utcnow())
        mr = self.host.open(
            branch, f"Move {d.service} to {d.target.key}", d.explanation, d.id, d.service,
            MRKind.EMERGENCY if d.emergency else MRKind.MIGRATION,
        )  # fmt: skip
        self.lifecycle.opened(d.id, mr)
        # the pipeline's outcome for a move the gate sends to a person: it waits for review, open
        run = self.runs.start_run(mr.id)
        self.lifecycle.pipeline_started(d.id, mr_id=mr.id, run_id=run.id)
        self.lifecycle.gate_decided(d.id, outcome="manual_review", mr_id=mr.id, reasons=["stand-in gate"])
        with self._lock:
            self.opened += 1
        return "waiting"

    def carry_rollback(self, mr_id: int) -> str:
        return "nothing to do"

    def propose(self, decision: Any) -> str:
        return self.carry(decision.id)

    def withdraw(self, decision_id: str, reason: str) -> None:
        mr = next((m for m in self.host.list() if m.decision_id == decision_id and m.is_open), None)
        if mr is None:
            return
        self.lifecycle.withdrawn(decision_id, reason)
        self.host.close(mr.id, reason)

    def resume(self, *, acting: bool = True) -> None:
        return None


# --- the engine, timed -----------------------------------------------------------------------------
@dataclass
class CycleRow:
    started: float
    seconds: float
    ticks: int
    recommendations: int
    queued: int
    errors: int
    note: str | None


class TimedLoop(EngineLoop):
    """The engine loop, each cycle timed (wall and CPU of this thread)."""

    t0: float = 0.0
    rows: list[CycleRow]

    running_since: float | None = None
    """When the cycle in progress started (perf_counter), None between cycles."""

    def cycle(self) -> CycleReport:
        started = self.running_since = time.perf_counter()
        report = super().cycle()
        self.running_since = None
        self.rows.append(
            CycleRow(
                started - self.t0, time.perf_counter() - started, report.ticks, len(report.recommendations),
                len(report.queued), len(report.errors), report.note,
            )
        )  # fmt: skip
        row = self.rows[-1]
        print(
            f"  cycle {len(self.rows):3d} at {row.started:6.0f} s: {row.seconds:6.2f} s "
            f"(interval {self.settings.engine_interval_s:.0f} s)  ticks {row.ticks:3d}  "
            f"recommendations {row.recommendations:5d}  queued {row.queued:5d}  errors {row.errors}"
            + (f"  ({row.note})" if row.note else ""),
            flush=True,
        )
        for error in report.errors[:3]:
            print(f"      error: {error[:200]}", flush=True)
        return report


# --- the simulator, in its own process ----------------------------------------------------------------
def simulate(url: str, home: str, services: int, stop: Any, out: Any) -> None:
    """The simulator's process: ``run_simulator`` at speed 1, each tick's insert timed into ``out``."""
    from swen.telemetry.runner import run_simulator

    settings = Settings(home=Path(home), database_url=url)
    store = Store.open(settings)
    insert = store.insert_sample_batch  # the simulator's write path (one tick as columns)

    def timed_insert(batch: Any) -> int:
        t = time.perf_counter()
        n = insert(batch)
        out.put((time.time(), batch.ts.timestamp(), n, time.perf_counter() - t))
        return n

    store.insert_sample_batch = timed_insert  # type: ignore[method-assign]
    run_simulator(settings, store, speed=1.0, stop_event=stop, services=big_fleet(services))
    store.close()


@dataclass
class Tick:
    wall: float
    sim_ts: float
    samples: int
    insert_s: float


@dataclass
class Monitor:
    """Every ``every_s``: newest stored sample's lag behind wall time, open MRs, queue counts."""

    store: Store
    every_s: float = 5.0
    rows: list[dict[str, float]] = field(default_factory=list)

    def run(self, stop: threading.Event, t0: float) -> None:
        actions = ActionQueue(self.store)
        while not stop.wait(self.every_s):
            newest = self.store.newest_sample_time()
            use = actions.budget_use()
            counts = actions.counts()
            self.rows.append(
                {
                    "t": time.perf_counter() - t0,
                    "lag_s": time.time() - newest.timestamp() if newest else float("nan"),
                    "open_mrs": use.open_mrs,
                    "provider_max": max(use.open_mrs_by_provider.values(), default=0),
                    "in_flight": use.in_flight,
                    "pending": counts.get("pending", 0),
                    "running": counts.get("running", 0),
                }
            )


# --- the fleet, live ------------------------------------------------------------------------------------
@dataclass
class LiveFleet:
    """The simulator (its own process), the engine with the stand-in driver and the monitor (threads of
    this process), running on a seeded store; also used by bench/cost_tab_bench.py ``--live``."""

    loop: TimedLoop
    monitor: Monitor
    sim: Any
    sim_stop: Any
    ticks_q: Any
    stop_event: threading.Event
    engine: threading.Thread
    t0: float
    ticks: list[Tick] = field(default_factory=list)

    @classmethod
    def start(
        cls, settings: Settings, store: Store, url: str, home: str, services: int, action_cost_s: float
    ) -> LiveFleet:
        ctx = mp.get_context("spawn")
        sim_stop, ticks_q = ctx.Event(), ctx.Queue()
        sim = ctx.Process(target=simulate, args=(url, home, services, sim_stop, ticks_q), daemon=True)
        loop = TimedLoop(settings, store, actuator=StandInDriver(store, action_cost_s))
        loop.rows = []
        stop = threading.Event()
        monitor = Monitor(store)
        t0 = time.perf_counter()
        loop.t0 = t0
        sim.start()
        engine = threading.Thread(target=loop.run, kwargs={"stop_event": stop}, name="engine", daemon=True)
        watcher = threading.Thread(target=monitor.run, args=(stop, t0), name="monitor", daemon=True)
        engine.start()
        watcher.start()
        return cls(loop, monitor, sim, sim_stop, ticks_q, stop, engine, t0)

    def collect(self, timeout_s: float = 1.0) -> bool:
        """Wait up to ``timeout_s`` for a stored tick; False once the simulator has ended."""
        with suppress(queue.Empty):
            self.ticks.append(Tick(*self.ticks_q.get(timeout=timeout_s)))
        if not self.sim.is_alive():
            print("the simulator process ended early (see its output above)")
            return False
        return True

    def stop(self, join_s: float) -> float | None:
        """Stop everything; how long the engine's cycle still running had run (None: none was)."""
        self.stop_event.set()
        self.sim_stop.set()
        self.sim.join(timeout=60)
        self.engine.join(timeout=join_s)
        unfinished = None
        if self.loop.running_since is not None:
            unfinished = time.perf_counter() - self.loop.running_since
            print(f"  the engine's cycle {len(self.loop.rows) + 1} was still running after {unfinished:.0f} "
                  "s: left unfinished (a daemon thread)")  # fmt: skip
        while not self.ticks_q.empty():
            self.ticks.append(Tick(*self.ticks_q.get()))
        return unfinished


# --- the 30 days before the run ------------------------------------------------------------------------
def seed_history(store: Store, fleet: list[Service], end: datetime, days: int) -> int:
    """Rollups of ``days`` days of hours before ``end`` for each service's running place (what the
    30-day Cost Analysis reads) and per provider, generated in the database (no raw samples)."""
    from sqlalchemy import text

    start = end - timedelta(days=days)
    places = [(s.name, s.fleet_placement.provider, s.fleet_placement.region, i) for i, s in enumerate(fleet)]
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE bench_places (s text, p text, r text, n int) ON COMMIT DROP"))
        conn.execute(
            text("INSERT INTO bench_places VALUES (:s, :p, :r, :n)"),
            [{"s": s, "p": p, "r": r, "n": n} for s, p, r, n in places],
        )
        conn.execute(
            text(
                """
                INSERT INTO telemetry_rollups
                SELECT s, p, r, h, 720, 'm5.large', 720 * (0.1 + (n % 17) * 0.01),
                       720 * greatest(0, 5000 - extract(epoch FROM (:end - h)) / 3600),
                       720 * 40, 60, 720 * 0.999, 0.99, 720 * 0.001, 720, p = 'alibaba'
                FROM bench_places, generate_series(:start, :end - interval '1 hour', interval '1 hour') h
                """
            ),
            {"start": start, "end": end},
        )
        conn.execute(
            text(
                """
                INSERT INTO telemetry_provider_rollups
                SELECT provider, hour, sum(samples), sum(hourly_cost_sum), sum(credits_sum)
                FROM telemetry_rollups GROUP BY provider, hour
                """
            )
        )
        seed_buckets(conn)
        conn.execute(text("ANALYZE telemetry_rollups"))
        conn.execute(text("ANALYZE telemetry_provider_rollups"))
        conn.execute(text("ANALYZE telemetry_rollups_6h"))
    return len(places) * days * 24


def seed_buckets(conn: Any) -> None:
    """The 6-hour rollups of the seeded hours, as the maintenance step (and migration 0013) write them:
    the hourly rollups summed per (service, place, bucket starting 00/06/12/18 UTC)."""
    from sqlalchemy import text

    conn.execute(
        text(
            """
            INSERT INTO telemetry_rollups_6h (service, provider, region, bucket, samples, hourly_cost_sum)
            SELECT service, provider, region,
                   date_bin(interval '6 hours', hour, timestamptz '2000-01-01 00:00:00+00') AS b,
                   sum(samples), sum(hourly_cost_sum)
            FROM telemetry_rollups GROUP BY service, provider, region, b
            """
        )
    )


def database() -> AbstractContextManager[str]:
    return throwaway_database("swen_fleet")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--action-cost-s", type=float, default=REAL_ACTION_S, help="stand-in cost of one move")
    ap.add_argument("--history-days", type=int, default=30)
    ap.add_argument("--api-runs", type=int, default=3)
    ap.add_argument(
        "--join-s", type=float, default=120.0, help="wait this long for a running cycle at the end"
    )
    ap.add_argument(
        "--no-baseline", dest="baseline", action="store_false", help="skip the advising-only cycle"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    with tempfile.TemporaryDirectory() as tmp, database() as url:
        settings = Settings(home=Path(tmp), database_url=url)
        budget = ChangeBudget.from_settings(settings)
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        print(f"fleet: {args.services} services (default fleet repeated); {args.minutes:g} min live on "
              f"PostgreSQL; telemetry every {settings.sim_interval_s:g} s, engine every "
              f"{settings.engine_interval_s:g} s, {settings.action_workers} action workers, stand-in "
              f"driver {args.action_cost_s:g} s per move; change budget {budget.fleet_mrs} open MRs "
              f"({budget.provider_mrs} per provider), {budget.fleet_applies} applies in flight")  # fmt: skip
        store = Store.open(settings)
        fleet = big_fleet(args.services)
        store.upsert_services(fleet)
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        t = time.perf_counter()
        seeded = seed_history(store, fleet, end, args.history_days)
        print(f"history: {seeded:,} hourly rollup rows ({args.history_days} days before {end:%H:%M} UTC) "
              f"seeded in {time.perf_counter() - t:.1f} s")  # fmt: skip

        live = LiveFleet.start(settings, store, url, tmp, args.services, args.action_cost_s)
        loop, monitor, ticks = live.loop, live.monitor, live.ticks
        deadline = live.t0 + args.minutes * 60
        while time.perf_counter() < deadline and live.collect():
            pass

        # the 30-day Cost Analysis with the fleet live (simulator and engine still running)
        key = ApiKeyRepository(store).create("bench", Role.VIEWER)[1]
        api_s: list[float] = []
        with TestClient(create_app(settings, store=store)) as client:
            for _ in range(args.api_runs):
                t = time.perf_counter()
                r = client.get("/cost-analysis?days=30", headers={"Authorization": f"Bearer {key}"})
                api_s.append(time.perf_counter() - t)
                r.raise_for_status()
        load_end = os.getloadavg()

        unfinished = live.stop(args.join_s)

        # the baseline: one cycle advising only (no actuator) on the same store, a fresh window
        baseline = TimedLoop(settings, store)
        baseline.rows, baseline.t0 = [], time.perf_counter()
        if args.baseline and unfinished is None:
            print("baseline (advising only, fresh window, after the run):")
            baseline.cycle()

        report(
            args, settings, budget, loop.rows, baseline.rows, ticks, monitor.rows, api_s, load_end, unfinished
        )
        store.close()


def report(
    args: argparse.Namespace,
    settings: Settings,
    budget: ChangeBudget,
    cycles: list[CycleRow],
    baseline: list[CycleRow],
    ticks: list[Tick],
    watch: list[dict[str, float]],
    api_s: list[float],
    load_end: tuple[float, float, float],
    unfinished: float | None,
) -> None:
    interval = settings.engine_interval_s
    acting = [c for c in cycles if c.ticks]
    print("\ningestion over time (per minute of the run):")
    if ticks:
        t_first = ticks[0].wall
        by_min: dict[int, list[Tick]] = {}
        for tick in ticks:
            by_min.setdefault(int((tick.wall - t_first) // 60), []).append(tick)
        produced = 0
        for m, group in sorted(by_min.items()):
            produced += sum(t.samples for t in group)
            lag = [w["lag_s"] for w in watch if m * 60 <= w["t"] < (m + 1) * 60]
            insert = [t.insert_s for t in group]
            print(
                f"  minute {m + 1:2d}: {len(group):3d} ticks, {sum(t.samples for t in group):>9,} samples "
                f"stored (total {produced:>11,}), insert median {statistics.median(insert):5.2f} s "
                f"max {max(insert):5.2f} s; newest stored sample "
                f"{(statistics.median(lag) if lag else float('nan')):5.1f} s behind (max "
                f"{(max(lag) if lag else float('nan')):5.1f} s)"
            )
    print("\nopen MRs vs the change budget (every 5 s):")
    for w in watch[:: max(1, len(watch) // 12)]:
        print(f"  at {w['t']:5.0f} s: open MRs {w['open_mrs']:3.0f}/{budget.fleet_mrs} (most on one "
              f"provider {w['provider_max']:.0f}/{budget.provider_mrs}), in flight "
              f"{w['in_flight']:.0f}/{budget.fleet_applies}, queue pending {w['pending']:.0f} running "
              f"{w['running']:.0f}")  # fmt: skip

    print("\nsummary")
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in load_end)}")
    if acting:
        secs = [c.seconds for c in acting]
        med = statistics.median(secs)
        print(f"  engine cycles with telemetry: {len(acting)}; duration median {med:.2f} s, "
              f"max {max(secs):.2f} s (interval {interval:g} s)")  # fmt: skip
    steady = [c for c in acting[1:]] or acting
    if baseline and baseline[0].ticks and steady:
        per_tick = statistics.median(c.seconds / c.ticks for c in steady)
        base = baseline[0].seconds / baseline[0].ticks
        print(f"  per telemetry tick evaluated: live acting cycles {per_tick:.2f} s, advising-only baseline "
              f"{base:.2f} s ({baseline[0].ticks} ticks in {baseline[0].seconds:.2f} s): ratio "
              f"{per_tick / base:.2f}")  # fmt: skip
    recs = sum(c.recommendations for c in cycles)
    pending_max = max((w["pending"] + w["running"] for w in watch), default=0)
    print(f"  recommendations recorded: {recs}; most actions queued at once: {pending_max:.0f}")
    span = (ticks[-1].sim_ts - ticks[0].sim_ts) if ticks else 0.0
    wall = (ticks[-1].wall - ticks[0].wall) if ticks else 0.0
    expected = wall / settings.sim_interval_s + 1
    lags = [w["lag_s"] for w in watch if w["lag_s"] == w["lag_s"]]  # NaN: nothing stored yet
    quarter = max(1, len(lags) // 4)
    first_q = statistics.median(lags[:quarter]) if lags else float("nan")
    last_q = statistics.median(lags[-quarter:]) if lags else float("nan")
    print(f"  telemetry ticks stored: {len(ticks)} in {wall:.0f} s of wall time ({expected:.0f} due), "
          f"spanning {span:.0f} s of simulated time; newest-sample lag median "
          f"{first_q:.1f} s in the first quarter, {last_q:.1f} s in the last")  # fmt: skip
    max_open = max((w["open_mrs"] for w in watch), default=0)
    max_provider = max((w["provider_max"] for w in watch), default=0)
    # the binding limit: the fleet's, or a provider's when every waiting move targets one provider
    at_budget = [
        w for w in watch if w["open_mrs"] >= budget.fleet_mrs or w["provider_max"] >= budget.provider_mrs
    ]
    api_med = statistics.median(api_s) if api_s else float("nan")
    print(f"  open MRs: max {max_open:.0f} (budget {budget.fleet_mrs}), most on one provider "
          f"{max_provider:.0f} (budget {budget.provider_mrs}); at a limit in "
          f"{len(at_budget)} of {len(watch)} samples")  # fmt: skip
    print(f"  GET /cost-analysis?days=30 (fleet live): median {api_med:.2f} s of {len(api_s)} "
          f"({', '.join(f'{x:.2f}' for x in api_s)})")  # fmt: skip

    print("\ngoals")
    within = acting and max(c.seconds for c in acting[1:] or acting) <= interval and not unfinished
    first = f"; the first (fresh window) {acting[0].seconds:.1f} s" if acting else ""
    if unfinished:
        first += f"; one still running after {unfinished:.0f} s at the end"
    print(f"  [{verdict(bool(within))}] each engine cycle within the {interval:g} s engine interval "
          f"(after the first){first}")  # fmt: skip
    ingest_ok = len(ticks) >= expected - 2 and last_q <= first_q + settings.sim_interval_s
    print(f"  [{verdict(ingest_ok)}] no growing ingestion backlog (every tick stored; lag not growing)")
    held = (
        max_open <= budget.fleet_mrs
        and max_provider <= budget.provider_mrs
        and (bool(at_budget) or pending_max < budget.provider_mrs)
    )
    print(f"  [{verdict(held)}] open MRs held at the change budget (never above {budget.fleet_mrs} in "
          f"the fleet nor {budget.provider_mrs} per provider; a limit reached while moves wait)")  # fmt: skip
    print(f"  [{verdict(api_med <= 3.0)}] the 30-day Cost Analysis API <= 3 s (the tab adds the "
          f"dashboard's own rendering: bench/dashboard_bench.py)")  # fmt: skip
    print(f"  [{'INFO' if recs >= 1000 else 'NOTE'}] {recs} recommendations recorded (the goal names "
          f"a thousand pending)")  # fmt: skip


if __name__ == "__main__":
    main()
