"""Alert storm benchmark: how long the simulator's writes wait while alert storms are recorded.

Three threads each record one Alertmanager notification of ``--alerts`` alerts (``intake``, each on
its own Store, as three API requests would) into one SQLite file, while a fourth thread writes a
telemetry cycle (``Store.insert_samples`` of 60 samples) every 0.5 s, as the simulator does. Run twice
in the same process: ``one transaction`` (the intake before batching: BATCH_ALERTS and BATCH_BUDGET_S
unbounded, no pause between batches) and ``batched`` (the shipped settings). Prints, per mode, the
wall time of the storms, the simulator's worst and median write time, its failed writes, and the
ratio of the worst write times (one transaction / batched; higher means batching helps more).

    .venv/bin/python bench/alert_storm.py [--alerts 1500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from swen.config import Settings
from swen.domain.errors import SwenError
from swen.domain.models import Placement, Service, ServiceShape, TelemetrySample
from swen.observability import alerts
from swen.observability.alerts import intake
from swen.store.repository import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SERVICES = [f"service-{i}" for i in range(1, 8)]


def _fleet() -> list[Service]:
    home = Placement(provider="aws", region="us-east-1")
    shape = ServiceShape(vcpus=2, memory_gib=8)
    return [
        Service(name=n, shape=shape, latency_slo_ms=50, users_region=home, fleet_placement=home)
        for n in SERVICES
    ]


def _storm(post: int, n: int) -> dict[str, Any]:
    def one(i: int) -> dict[str, Any]:
        labels = {"alertname": "ProviderOutage", "service": SERVICES[i % 7], "provider": "aws",
                  "region": "us-east-1", "kind": "outage", "instance": f"storm-{post}-{i}"}  # fmt: skip
        return {
            "status": "firing", "labels": labels, "annotations": {"summary": "down"},
            "startsAt": (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": f"{post:04x}{i:012x}",
        }  # fmt: skip

    return {
        "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "swen-platform", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093", "alerts": [one(i) for i in range(n)],
    }  # fmt: skip


def _samples(step: int) -> list[TelemetrySample]:
    ts = T0 + timedelta(seconds=step)
    return [
        TelemetrySample(
            service=s,
            provider="aws",
            region=f"r-{k}",
            ts=ts,
            instance_type="m5.large",
            hourly_cost_usd=0.1,
            latency_ms=40,
            credits_usd=0,
            gpu_availability=1,
            availability=1,
            error_rate=0,
        )
        for s in SERVICES
        for k in range(9)
    ][:60]


@contextmanager
def _unbatched() -> Iterator[None]:
    saved = alerts.BATCH_ALERTS, alerts.BATCH_BUDGET_S, Store.let_other_writers_in
    alerts.BATCH_ALERTS, alerts.BATCH_BUDGET_S = 10**9, float("inf")
    Store.let_other_writers_in = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        alerts.BATCH_ALERTS, alerts.BATCH_BUDGET_S, Store.let_other_writers_in = saved  # type: ignore[method-assign]


def run(n_alerts: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="swen-storm-"))
    settings = Settings(home=home)
    setup = Store.open(settings)
    setup.upsert_services(_fleet())
    bodies = [_storm(p, n_alerts) for p in range(3)]
    waits: list[float] = []
    failures: list[str] = []
    done = threading.Event()

    def simulator() -> None:
        store, step = Store.open(settings), 0
        while not done.is_set():
            started = time.perf_counter()
            try:
                store.insert_samples(_samples(step))
            except SwenError as exc:
                failures.append(str(exc))
            waits.append(time.perf_counter() - started)
            step += 1
            done.wait(0.5)

    def post(body: dict[str, Any]) -> None:
        try:
            intake(Store.open(settings), body)
        except SwenError as exc:
            failures.append(f"intake: {exc}")

    sim = threading.Thread(target=simulator)
    sim.start()
    started = time.perf_counter()
    posts = [threading.Thread(target=post, args=(b,)) for b in bodies]
    for t in posts:
        t.start()
    for t in posts:
        t.join()
    storm_s = time.perf_counter() - started
    done.set()
    sim.join()
    return {
        "storm_s": storm_s,
        "worst_write_s": max(waits),
        "median_write_s": statistics.median(waits),
        "writes": len(waits),
        "failures": len(failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1500, help="alerts per notification (max 5000)")
    args = parser.parse_args()
    with _unbatched():
        before = run(args.alerts)
    after = run(args.alerts)
    for name, r in (("one transaction", before), ("batched", after)):
        print(
            f"{name:>15}: 3 x {args.alerts} alerts in {r['storm_s']:.1f} s; simulator writes: "
            f"{r['writes']:.0f}, worst {r['worst_write_s']:.2f} s, median {r['median_write_s']:.3f} s, "
            f"failed {r['failures']:.0f}"
        )
    ratio = before["worst_write_s"] / after["worst_write_s"]
    print(f"worst simulator write, one transaction / batched: {ratio:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
