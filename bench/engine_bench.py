"""Decision-engine benchmark: 10,000 services x 50 candidates (synthetic numpy arrays).

Measures in one run, next to a numpy floor over the same arrays:
  (a) the scoring and ranking kernel alone (factor scores, weighted total, masking, argmax) vs the
      floor: one vectorised weighted sum and argmax over the same four arrays;
  (b) one full engine cycle from the cycle's new samples to stored decisions: window update,
      constraints, scoring, confidence, savings, explanations for the services that get a
      recommendation, Store.save_decision of those recommendations (SQLite) and the atomic write of
      ai_decisions.json (all recommendations + one summary row per service), as the loop does;
  (c) telemetry ingestion through Store.insert_samples in samples/s on SQLite, and on PostgreSQL
      when SWEN_TEST_PG_URL is set (`source scripts/test-services.sh`).
Prints times, the kernel/floor ratio and peak memory. Goals: kernel <= 5x floor, full cycle <= 0.5 s,
ingestion >= 50,000 samples/s, peak <= 300 MB.

    .venv/bin/python bench/engine_bench.py [--services 10000] [--candidates 50] [--share 0.01]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from swen.domain.models import Placement, Service, ServiceShape, TelemetrySample, Weights
from swen.engine.decide import EngineInputs, EngineParams, EngineResult, evaluate
from swen.engine.memory import tune_malloc
from swen.engine.scoring import score
from swen.engine.summary import decisions_document
from swen.engine.window import SampleWindow
from swen.store.exports import atomic_write_json
from swen.store.repository import Store

PROVIDERS = ("aws", "alibaba", "gcp", "azure", "oci")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CYCLE_S = 30.0


def median_time(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Synthetic:
    """A fleet of S services over C candidates with a few clearly cheaper alternatives (``share``)."""

    def __init__(self, n_services: int, n_candidates: int, share: float, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.rng = rng
        per = -(-n_candidates // len(PROVIDERS))
        self.placements = [
            Placement(provider=PROVIDERS[i // per], region=f"region-{i % per}") for i in range(n_candidates)
        ]
        s, c = n_services, n_candidates
        self.current = rng.integers(0, c, s)
        size = rng.choice([0.1, 0.2, 0.4, 0.8], s)
        self.cost = size[:, None] * rng.uniform(1.05, 1.6, (s, c))
        self.cost[np.arange(s), self.current] = size  # the current placement is the cheapest ...
        bargain = rng.random(s) < share  # ... except for a few services with a much cheaper candidate
        other = (self.current + rng.integers(1, c, s)) % c
        self.cost[np.flatnonzero(bargain), other[bargain]] = size[bargain] * 0.7
        self.bargains = int(bargain.sum())
        self.latency = rng.uniform(15, 140, (s, c))
        self.latency[np.arange(s), self.current] = 10.0
        self.latency[np.flatnonzero(bargain), other[bargain]] = 12.0
        self.credits = np.where(rng.random((s, c)) < 0.01, rng.uniform(0, 100, (s, c)), 0.0)
        self.availability = rng.uniform(0.97, 0.995, (s, c))
        self.availability[np.arange(s), self.current] = 0.999
        self.gpu = rng.uniform(0.3, 1.0, (s, c))
        shape = ServiceShape(vcpus=4, memory_gib=16)
        self.services = [
            Service(
                name=f"svc-{i}",
                shape=shape,
                latency_slo_ms=150.0,
                users_region=self.placements[0],
                current=self.placements[int(self.current[i])],
                allowed_providers=(self.placements[int(self.current[i])].provider, "gcp")
                if i % 10 == 0
                else (),
                state_gb=50.0,
            )
            for i in range(s)
        ]
        self.s_idx, self.c_idx = (a.ravel() for a in np.indices((s, c)))
        self.instance_type = np.full(s * c, "m5.xlarge", dtype=object)

    def feed(self, window: SampleWindow, cycle: int) -> None:
        """One sample per cell for this cycle, with 1 % price and 5 % latency noise."""
        n = self.s_idx.size
        rng = self.rng
        window.update_arrays(
            self.s_idx,
            self.c_idx,
            ts=np.full(n, (T0 + timedelta(seconds=CYCLE_S * cycle)).timestamp()),
            hourly_cost_usd=self.cost.ravel() * rng.uniform(0.995, 1.005, n),
            latency_ms=self.latency.ravel() * rng.uniform(0.95, 1.05, n),
            credits_usd=self.credits.ravel(),
            gpu_availability=self.gpu.ravel(),
            availability=self.availability.ravel(),
            error_rate=np.zeros(n),
            simulated=np.zeros(n, dtype=bool),
            instance_type=self.instance_type,
        )


def egress(src: Placement, dst: Placement) -> float:
    return 0.02 if src.provider == dst.provider else 0.09


def bench_kernel(syn: Synthetic, repeat: int) -> tuple[list[float], list[float]]:
    weights = Weights()
    monthly = syn.cost * 730.0
    p95 = syn.latency
    slo = np.full(len(syn.services), 150.0)
    feasible = syn.latency <= 150.0
    avail = syn.availability
    w = weights.as_tuple()

    def kernel() -> None:
        score(
            monthly=monthly,
            p95_ms=p95,
            credits_usd=syn.credits,
            availability=avail,
            slo_ms=slo,
            feasible=feasible,
            weights=weights,
            amortisation_months=6.0,
        )

    def floor() -> None:
        np.argmax(w[0] * monthly + w[1] * p95 + w[2] * syn.credits + w[3] * avail, axis=1)

    kernel(), floor()
    kernel_times, floor_times = [], []
    for _ in range(repeat):  # interleaved, so that load from other processes hits both alike
        kernel_times.append(median_time(kernel, 1))
        floor_times.append(median_time(floor, 1))
    return kernel_times, floor_times


def run_cycle(
    syn: Synthetic,
    window: SampleWindow,
    store: Store,
    cycle: int,
    history: Any,
    params: EngineParams,
    decisions_path: Path,
) -> tuple[EngineResult, dict[str, float]]:
    parts: dict[str, float] = {}
    t = time.perf_counter()
    syn.feed(window, cycle)
    parts["window update"] = time.perf_counter() - t
    t = time.perf_counter()
    result = evaluate(
        EngineInputs(
            services=syn.services,
            window=window,
            now=T0 + timedelta(seconds=CYCLE_S * cycle),
            egress_usd_per_gb=egress,
            params=params,
            history=history,
        )
    )
    parts["evaluate (incl. explanations)"] = time.perf_counter() - t
    t = time.perf_counter()
    for decision in result.recommendations:  # what the loop does with a cycle, timed in two parts
        store.save_decision(decision)
    parts["store.save_decision (MIGRATE)"] = time.perf_counter() - t
    t = time.perf_counter()
    atomic_write_json(decisions_path, decisions_document(result))
    parts["ai_decisions.json (atomic)"] = time.perf_counter() - t
    parts["total"] = sum(parts.values())
    return result, parts


def bench_cycle(
    syn: Synthetic, store: Store, cycles: int, decisions_path: Path
) -> tuple[dict[str, float], int, float]:
    params = EngineParams()
    window = SampleWindow([s.name for s in syn.services], syn.placements, params.stability_window)
    history = None
    for cycle in range(params.stability_window):  # warm-up: fill the window, let winners settle
        syn.feed(window, cycle)
        history = evaluate(
            EngineInputs(
                services=syn.services,
                window=window,
                now=T0 + timedelta(seconds=CYCLE_S * cycle),
                egress_usd_per_gb=egress,
                params=params,
                history=history,
            )
        ).history
    samples: list[dict[str, float]] = []
    recommended = 0
    for k in range(cycles):
        result, parts = run_cycle(
            syn, window, store, params.stability_window + k, history, params, decisions_path
        )
        history = result.history
        recommended = len(result.recommendations)
        del result  # the loop keeps only the history between cycles
        samples.append(parts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    median = {key: statistics.median(p[key] for p in samples) for key in samples[0]}
    gc.collect()
    tracemalloc.start()
    run_cycle(syn, window, store, params.stability_window + cycles, history, params, decisions_path)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    window_mb = (
        sum(a.nbytes for a in window.ring.values())
        + sum(a.nbytes for a in window.latest.values())
        + window.ts_last.nbytes
        + window.simulated.nbytes
        + window.instance_type.nbytes
    ) / 2**20
    print(f"  window arrays {window_mb:.0f} MB; tracemalloc peak of one cycle {traced_peak / 2**20:.0f} MB")
    return median, recommended, rss


def make_samples(n: int) -> list[TelemetrySample]:
    return [
        TelemetrySample(
            service=f"svc-{i % 500}",
            provider=PROVIDERS[i % 5],
            region=f"region-{(i // 5) % 10}",
            ts=T0 + timedelta(seconds=5 * (i // 5000)),
            instance_type="m5.xlarge",
            hourly_cost_usd=0.192 + (i % 7) * 0.001,
            latency_ms=40.0 + i % 13,
            credits_usd=100.0,
            gpu_availability=1.0,
            availability=0.999,
            error_rate=0.001,
        )
        for i in range(n)
    ]


def bench_ingest(url: str, samples: list[TelemetrySample], batch: int) -> float:
    store = Store.from_url(url)
    try:
        start = time.perf_counter()
        for i in range(0, len(samples), batch):
            store.insert_samples(samples[i : i + batch])
        return len(samples) / (time.perf_counter() - start)
    finally:
        store.close()


def pg_database() -> tuple[str, Callable[[], None]] | None:
    admin = os.environ.get("SWEN_TEST_PG_URL")
    if not admin:
        return None
    import psycopg

    name = f"swen_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{admin.rsplit('/', 1)[0]}/{name}", drop


def report_kernel(syn: Synthetic, repeat: int, label: str) -> None:
    kernel_t, floor_t = bench_kernel(syn, repeat)
    k_min, k_med = min(kernel_t), statistics.median(kernel_t)
    f_min, f_med = min(floor_t), statistics.median(floor_t)
    print(f"(a) kernel vs numpy floor [{label}], {repeat} interleaved runs: min / median")
    print(f"  kernel (scores, total, mask, argmax) {k_min * 1e3:8.1f} / {k_med * 1e3:.1f} ms")
    print(f"  floor (weighted sum + argmax)        {f_min * 1e3:8.1f} / {f_med * 1e3:.1f} ms")
    print(
        f"  ratio kernel / floor                 {k_min / f_min:8.2f}x / {k_med / f_med:.2f}x   (goal <= 5x)"
    )


def report_cycle(syn: Synthetic, cycles: int, label: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.from_url(f"sqlite:///{Path(tmp) / 'engine.db'}")
        print(
            f"(b) full cycle [{label}], median of {cycles}; SQLite store; {syn.bargains} services with a "
            "cheaper home"
        )
        parts, recommended, rss = bench_cycle(syn, store, cycles, Path(tmp) / "ai_decisions.json")
        store.close()
    for key, value in parts.items():
        print(f"  {key:<32} {value * 1e3:8.1f} ms")
    print(f"  recommendations stored per cycle  {recommended:8d}   (goal: total <= 500 ms)")
    return rss


def report_ingest(samples_n: int, batch: int) -> None:
    print(f"(c) ingestion via Store.insert_samples, {samples_n:,} samples, batches of {batch:,}")
    samples = make_samples(samples_n)
    with tempfile.TemporaryDirectory() as tmp:
        rate = bench_ingest(f"sqlite:///{Path(tmp) / 'ingest.db'}", samples, batch)
    print(f"  SQLite                              {rate:12,.0f} samples/s (goal >= 50,000)")
    pg = pg_database()
    if pg is None:
        print("  PostgreSQL                          skipped (SWEN_TEST_PG_URL not set)")
        return
    url, drop = pg
    try:
        rate = bench_ingest(url, samples, batch)
        print(f"  PostgreSQL                          {rate:12,.0f} samples/s (goal >= 50,000)")
    finally:
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--share", type=float, default=0.01, help="share of services with a cheaper home")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument(
        "--malloc",
        choices=("both", "default", "tuned"),
        default="both",
        help="glibc malloc as is, with swen.engine.memory.tune_malloc(), or both (default first)",
    )
    args = parser.parse_args()

    print(
        f"Decision engine, {args.services:,} services x {args.candidates} candidates; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    syn = Synthetic(args.services, args.candidates, args.share)
    modes = ("default", "tuned") if args.malloc == "both" else (args.malloc,)
    rss = 0.0
    for mode in modes:
        if mode == "tuned":
            print(f"tune_malloc() -> {tune_malloc()}")
        report_kernel(syn, args.repeat, f"malloc {mode}")
        rss = max(rss, report_cycle(syn, args.cycles, f"malloc {mode}"))
    print(
        f"peak RSS of the whole process through (a) and (b), before tracemalloc: {rss:.0f} MB "
        "(goal <= 300 MB; includes the interpreter, imports and the synthetic inputs)"
    )
    del syn
    gc.collect()
    report_ingest(args.samples, args.batch)


if __name__ == "__main__":
    main()
