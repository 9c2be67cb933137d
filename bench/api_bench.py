"""API benchmark: GET /telemetry and GET /decisions against a bare endpoint of the same app, same run.

Seeds a store (SQLite in a temp dir, or PostgreSQL with --pg when SWEN_TEST_PG_URL is set) with 200
services and a week of telemetry (one sample per service and candidate every 15 minutes: 200 x 3 x 672
= 403,200 rows) and 600 decisions with lifecycle events, starts `uvicorn` in a separate process on a
loopback port with the real app (auth, rate limit, metrics middleware, body limit) plus one bare route
returning a constant, then drives it with `wrk` (Debian package) at 50 connections: requests/s and
p50/p99 latency of each endpoint, and the ratio to the bare endpoint's throughput.

    .venv/bin/python bench/api_bench.py [--duration 8] [--rounds 3] [--connections 50] [--pg] [--live]

``--live`` also runs a writer (another process's worth of work, here a thread of the bench) that
inserts one telemetry tick (600 samples) and appends one event every second while wrk measures, so
the caches are invalidated the way a running simulator and engine invalidate them. On PostgreSQL it
also measures how long after each commit the change notification reaches a listener (the bench's
own ``store.notify.Listener``, same machine, under the same load).

``--pg`` starts two servers on the same database and measures them round by round, side by side:
"asking" (``api_max_staleness_s=0``: every cached read asks PostgreSQL for the data version, the
behaviour before notifications) and "learning" (the default: versions learnt from notifications,
asked only while the listener is down or late). Each server's own bare route is its baseline.

Goals: each measured endpoint >= 40 % of the bare endpoint's requests/s and p99 <= 50 ms (the API
issue); on PostgreSQL >= 60 % and p99 <= 2x the bare endpoint's p99 at 50 connections (issue 12).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from pg_database import throwaway_database
from swen.config import Settings
from swen.domain.decision import (
    Confidence,
    Decision,
    DecisionAction,
    DecisionStatus,
    FactorScores,
    ProviderScore,
    Savings,
)
from swen.domain.events import EventType
from swen.domain.keys import Role
from swen.domain.models import Placement, Service, ServiceShape, TelemetrySample, Weights
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store

SERVICES = 200
PLACES = [Placement(provider="aws", region="us-east-1"), Placement(provider="alibaba", region="cn-hangzhou"),
          Placement(provider="gcp", region="us-central1")]  # fmt: skip
STEP = timedelta(minutes=15)
TICKS = 7 * 24 * 4
T0 = datetime.now(UTC).replace(microsecond=0) - STEP * TICKS
BATCH = 20_000


def _service(i: int) -> Service:
    return Service(
        name=f"svc-{i:03d}", shape=ServiceShape(vcpus=4, memory_gib=16), latency_slo_ms=150.0,
        users_region=PLACES[0], current=PLACES[i % 2], monthly_budget_usd=2000.0,
    )  # fmt: skip


def _samples(rng: random.Random) -> Iterator[list[TelemetrySample]]:
    batch: list[TelemetrySample] = []
    for tick in range(TICKS):
        ts = T0 + STEP * tick
        for i in range(SERVICES):
            for p in PLACES:
                batch.append(
                    TelemetrySample(
                        service=f"svc-{i:03d}", provider=p.provider, region=p.region, ts=ts,
                        instance_type="m5.xlarge", hourly_cost_usd=0.15 + rng.random() * 0.1,
                        latency_ms=30 + rng.random() * 40, credits_usd=max(0.0, 5000 - tick * 5.0),
                        gpu_availability=1.0, availability=0.99 + rng.random() * 0.01,
                        error_rate=rng.random() * 0.01, simulated_price=p.provider == "alibaba",
                    )
                )  # fmt: skip
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _score(p: Placement, rank: int, total: float) -> ProviderScore:
    f = FactorScores(cost=total, latency=total, credits=total, availability=total)
    c = FactorScores(cost=0.4 * total, latency=0.25 * total, credits=0.2 * total, availability=0.15 * total)
    return ProviderScore(
        placement=p, rank=rank, factors=f, contributions=c, total=total, monthly_cost_usd=150.0 * rank,
        latency_ms=40.0, credits_usd=100.0, availability=0.999, gpu_availability=1.0,
        instance_type="m5.xlarge", simulated_price=p.provider == "alibaba", is_current=rank == 3,
    )  # fmt: skip


def _decision(i: int, n: int) -> Decision:
    return Decision(
        id=f"d-{i:03d}-{n}", service=f"svc-{i:03d}", created_at=T0 + timedelta(hours=24 * n + i % 24),
        action=DecisionAction.MIGRATE, current=PLACES[2], target=PLACES[0],
        ranking=tuple(_score(p, r + 1, 0.9 - 0.2 * r) for r, p in enumerate(PLACES)), excluded=(),
        confidence=Confidence(value=0.9, margin=0.4, margin_term=0.9, stability=1.0, stability_cycles=10,
                              stability_window=10, freshness=1.0),
        savings=Savings(current_monthly_usd=450.0, target_monthly_usd=150.0, gross_monthly_usd=300.0,
                        credits_offset_monthly_usd=0.0, migration_cost_usd=90.0, amortisation_months=6.0,
                        net_monthly_usd=285.0, cost_delta_pct=-66.7),
        weights=Weights(), explanation=f"Move svc-{i:03d} from gcp/us-central1 to aws/us-east-1: $285/month",
        reasons=("cheaper",),
    )  # fmt: skip


def seed(settings: Settings) -> str:
    """Fill the store; returns a viewer key."""
    started = time.perf_counter()
    with Store.open(settings) as store:
        store.upsert_services([_service(i) for i in range(SERVICES)])
        rng = random.Random(7)
        rows = sum(store.insert_samples(batch) for batch in _samples(rng))
        for i in range(SERVICES):
            for n in range(3):
                store.save_decision(_decision(i, n))
            store.transition(f"d-{i:03d}-2", DecisionStatus.MR_OPENED, detail={"mr": i})
        key = ApiKeyRepository(store).create("bench", Role.VIEWER)[1]
    print(f"seeded {SERVICES} services, {rows:,} samples, {SERVICES * 3} decisions "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    return key


def serve(home: str, database_url: str | None, port: int, max_staleness_s: float | None) -> None:
    """Child process: the real app plus a bare constant route, under uvicorn."""
    import uvicorn

    from swen.api.app import create_app

    tuned = {} if max_staleness_s is None else {"api_max_staleness_s": max_staleness_s}
    settings = Settings(
        home=Path(home), database_url=database_url, rate_limit_per_minute=100_000_000, **tuned
    )
    app = create_app(settings)

    @app.get("/bench/bare", include_in_schema=False)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/bench/versions", include_in_schema=False)
    async def versions() -> dict[str, int]:
        """How the cached reads got their versions: asked from the database, or learnt."""
        return {"asked": app.state.versions.asked, "learnt": app.state.versions.learnt}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str
    cpu_us: float = 0.0
    """Server CPU time (user + system) per request: independent of how busy the machine is."""


def _median(results: list[Result]) -> Result:
    """Median requests/s and latencies over the rounds (the machine is shared: single runs are noisy)."""
    return Result(
        results[0].name,
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        " ".join(r.errors for r in results if r.errors),
        statistics.median(r.cpu_us for r in results),
    )


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(name: str, url: str, key: str, duration: int, connections: int, pid: int = 0) -> Result:
    cpu_before = _cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency",
         "-H", f"Authorization: Bearer {key}", url],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {
        m.group(1): _ms(m.group(2), m.group(3))
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)\b", out, re.M)
    }
    errors = ""
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += f"non-2xx={m.group(1)} "
    if m := re.search(r"Socket errors: (.*)", out):
        errors += m.group(1)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    cpu_us = (_cpu_seconds(pid) - cpu_before) / max(requests, 1) * 1e6 if pid else 0.0
    return Result(name, rps, lat["50"], lat["99"], errors.strip(), cpu_us)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(
    home: Path, database_url: str | None, max_staleness_s: float | None = None
) -> Iterator[tuple[str, int]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(home), "--port", str(port)]
        + (["--database-url", database_url] if database_url else [])
        + ([] if max_staleness_s is None else ["--max-staleness", str(max_staleness_s)]),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the API server did not start") from None
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@dataclass
class NotifyLatency:
    """Commit -> notification handled by a listener, per write of the live writer (ms)."""

    committed: dict[str, list[float]]
    arrived: dict[str, list[float]]

    def delays_ms(self) -> list[float]:
        out: list[float] = []
        for topic, commits in self.committed.items():
            arrivals = self.arrived.get(topic, [])
            out += [(a - c) * 1000 for c, a in zip(commits, arrivals, strict=False)]
        return sorted(out)


@contextmanager
def live_writer(settings: Settings, enabled: bool) -> Iterator[NotifyLatency | None]:
    """Insert a telemetry tick and append an event every second until the block ends; on PostgreSQL
    also time each commit's change notification."""
    if not enabled:
        yield None
        return
    from swen.store.notify import CHANGES_CHANNEL, Listener

    stop = threading.Event()
    latency = NotifyLatency(committed={"telemetry_samples": [], "events": []}, arrived={})

    def arrived(topic: str) -> None:
        latency.arrived.setdefault(topic, []).append(time.monotonic())

    def write() -> None:
        rng = random.Random(11)
        with Store.open(settings, migrate=False) as store:
            tick = TICKS
            while not stop.wait(1.0):
                ts = T0 + STEP * tick
                store.insert_samples([
                    TelemetrySample(
                        service=f"svc-{i:03d}", provider=p.provider, region=p.region, ts=ts,
                        instance_type="m5.xlarge", hourly_cost_usd=0.15 + rng.random() * 0.1, latency_ms=35.0,
                        credits_usd=1000.0, gpu_availability=1.0, availability=0.995, error_rate=0.001,
                    )
                    for i in range(SERVICES) for p in PLACES
                ])  # fmt: skip
                latency.committed["telemetry_samples"].append(time.monotonic())
                store.append_event(EventType.TELEMETRY_CYCLE, {"count": SERVICES * len(PLACES)})
                latency.committed["events"].append(time.monotonic())
                tick += 1

    listener = None
    if settings.database_url:
        with Store.open(settings, migrate=False) as store:
            listener = Listener(store.engine, {CHANGES_CHANNEL: arrived}).start()
            listener.connected.wait(10)
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield latency if listener is not None else None
    finally:
        stop.set()
        thread.join(timeout=30)
        if listener is not None:
            listener.stop()


@contextmanager
def database(use_pg: bool) -> Iterator[str | None]:
    if not use_pg:
        yield None
        return
    with throwaway_database() as url:
        yield url


VARIANTS_PG = (("asking", 0.0), ("learning", None))
"""(name, api_max_staleness_s) of the servers compared on PostgreSQL; None is the default setting."""
TARGETS = (
    ("bare (constant)", "/bench/bare"),
    ("GET /telemetry", "/telemetry"),
    ("GET /decisions", "/decisions"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (bare, telemetry, decisions each)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL (SWEN_TEST_PG_URL) instead of SQLite")
    parser.add_argument("--live", action="store_true", help="write a telemetry tick + event every second")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--max-staleness", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database_url, args.port, args.max_staleness)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk on PATH (Debian package 'wrk': apt-get install wrk)")
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    variants = VARIANTS_PG if args.pg else (("", None),)
    home = Path(tempfile.mkdtemp(prefix="swen-api-bench-"))
    try:
        with database(args.pg) as url, ExitStack() as stack:
            settings = Settings(home=home, database_url=url)
            key = seed(settings)
            servers = {name: stack.enter_context(server(home, url, lag)) for name, lag in variants}
            latency = stack.enter_context(live_writer(settings, args.live))
            for base, _pid in servers.values():  # warm-up: imports, caches, connection pool
                for _, path in TARGETS:
                    run_wrk("warm-up", base + path, key, 2, args.connections)
            counts_before = {name: _version_counts(base) for name, (base, _pid) in servers.items()}
            rounds: dict[str, list[list[Result]]] = {name: [] for name in servers}
            for i in range(args.rounds):
                for name, (base, pid) in servers.items():
                    row = [
                        run_wrk(n, base + p, key, args.duration, args.connections, pid) for n, p in TARGETS
                    ]
                    rounds[name].append(row)
                    print(
                        f"round {i + 1}{' ' + name if name else ''}: "
                        + "; ".join(f"{x.name} {x.rps:.0f}/s p99 {x.p99_ms:.1f} ms" for x in row),
                        flush=True,
                    )
            counts = {
                name: {k: v - counts_before[name].get(k, 0) for k, v in _version_counts(base).items()}
                for name, (base, _pid) in servers.items()
            }
        backend = ("PostgreSQL" if args.pg else "SQLite") + (", live writes 1/s" if args.live else "")
        for name, per_round in rounds.items():
            results = [_median([r[i] for r in per_round]) for i in range(len(TARGETS))]
            label = f"{backend}, {name} (versions: {_describe(counts[name])})" if name else backend
            report(results, args, backend=label, issue12=args.pg)
        if latency is not None:
            delays = latency.delays_ms()
            if delays:
                print(
                    f"\ncommit -> change notification handled ({len(delays)} writes): "
                    f"p50 {statistics.median(delays):.2f} ms, p99 {_percentile(delays, 0.99):.2f} ms, "
                    f"max {delays[-1]:.2f} ms"
                )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _version_counts(base: str) -> dict[str, int]:
    try:
        response = httpx.get(f"{base}/bench/versions", timeout=10)
        return {k: int(v) for k, v in response.json().items()}
    except (httpx.HTTPError, ValueError):
        return {}


def _describe(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    return ", ".join(f"{k} {v:,} ({v / total:.1%})" for k, v in counts.items())


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def report(results: list[Result], args: argparse.Namespace, *, backend: str, issue12: bool = False) -> None:
    bare = results[0]
    print(
        f"\nwrk -t2 -c{args.connections} -d{args.duration}s x {args.rounds} rounds (medians), "
        f"uvicorn (1 process) on 127.0.0.1, {backend}"
    )
    print(
        f"{'endpoint':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} {'p99/bare':>9} "
        f"{'CPU us/req':>11}  errors"
    )
    for r in results:
        print(
            f"{r.name:<18} {r.rps:>9.0f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{r.rps / bare.rps:>7.0%} {r.p99_ms / bare.p99_ms:>8.1f}x {r.cpu_us:>11.0f}  {r.errors}"
        )
    for r in results[1:]:
        ok = r.rps >= 0.4 * bare.rps and r.p99_ms <= 50
        print(f"goal {r.name}: >= 40 % of bare and p99 <= 50 ms: {'met' if ok else 'NOT met'}")
        if issue12:
            ok = r.rps >= 0.6 * bare.rps and r.p99_ms <= 2 * bare.p99_ms
            print(
                f"goal {r.name} (issue 12): >= 60 % of bare and p99 <= 2x bare: {'met' if ok else 'NOT met'}"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
