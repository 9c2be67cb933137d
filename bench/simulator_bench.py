"""Simulator benchmark: vectorised ``step_arrays`` against a per-pair Python loop of the same model.

Builds 10,000 services x 50 candidate regions (500,000 pairs) on a synthetic 50-region catalog,
times simulator construction, ``step_arrays`` (mean of several steps), ``to_samples`` (the
TelemetrySample objects the store path needs), and a plain Python loop computing the same per-pair
quantities (price walk, diurnal latency with noise, health, GPU level) as the baseline measured in the
same run. Prints figures and the ratio baseline / vectorised (higher is better).

    .venv/bin/python bench/simulator_bench.py [--services 10000] [--regions 50] [--steps 5]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from datetime import UTC, datetime, timedelta

from swen.domain.models import Offer, Service
from swen.telemetry import model as m
from swen.telemetry.catalog import Catalog
from swen.telemetry.network import EgressTable, LatencyTable
from swen.telemetry.simulator import Simulator

START = datetime(2026, 1, 5, tzinfo=UTC)


def synthetic_catalog(regions: int) -> Catalog:
    shapes = [("m5.large", 2, 8, None, 0.096), ("g5.xlarge", 4, 16, "A10G", 1.006)]
    offers = [
        Offer(
            provider="aws",
            region=f"zz-{r:02d}",
            instance_type=itype,
            vcpus=v,
            memory_gib=mem,
            gpu_name=gpu,
            gpu_count=1 if gpu else 0,
            price_hour_usd=price * (1 + r / 100),
            source="synthetic bench offer",
        )
        for r in range(regions)
        for itype, v, mem, gpu, price in shapes
    ]
    return Catalog(offers, LatencyTable([]), EgressTable([]))


def synthetic_services(n: int, regions: int) -> list[Service]:
    cpu = {"vcpus": 2, "memory_gib": 8}
    gpu = {"vcpus": 4, "memory_gib": 16, "gpu_model": "A10G", "gpu_count": 1}
    return [
        Service.model_validate(
            {
                "name": f"svc-{i}",
                "latency_slo_ms": 100,
                "shape": gpu if i % 4 == 0 else cpu,
                "users_region": {"provider": "aws", "region": f"zz-{i % regions:02d}"},
                "current": {"provider": "aws", "region": f"zz-{i % regions:02d}"},
            }
        )
        for i in range(n)
    ]


def baseline_step(sim: Simulator, rng: random.Random, ratios: list[float], hour: float) -> float:
    """The same per-pair work as step_arrays, one pair at a time in Python; returns a checksum."""
    idx = sim.index
    decay = math.exp(-m.PRICE_REVERSION_PER_H * 5 / 3600)
    scale = m.PRICE_STD * math.sqrt(1 - decay * decay)
    for o in range(len(ratios)):
        ratios[o] = min(max(1 + (ratios[o] - 1) * decay + scale * rng.gauss(0, 1), 0.85), 1.25)
    total = 0.0
    offers, prices = idx.pair_offer.tolist(), idx.offer_list_price.tolist()
    rtts, offsets, reps = (
        idx.pair_rtt_ms.tolist(),
        idx.pair_users_utc_offset_h.tolist(),
        idx.pair_replicas.tolist(),
    )
    for i in range(idx.size):
        cost = prices[offers[i]] * ratios[offers[i]] * reps[i]
        local = (hour + offsets[i]) % 24
        load = 0.5 * (1 + math.cos(2 * math.pi * (local - m.PEAK_LOCAL_HOUR) / 24))
        rtt = rtts[i]
        latency = max(
            rtt * (1 + m.LATENCY_DIURNAL_AMPLITUDE * load)
            + (m.LATENCY_NOISE_REL * rtt + m.LATENCY_NOISE_ABS_MS) * rng.gauss(0, 1),
            0.98 * rtt,
        )
        availability = min(max(1 - abs(rng.gauss(0, m.AVAILABILITY_NOISE)), 0.99), 1.0)
        error_rate = m.ERROR_RATE_BASE * (1 + load) + abs(rng.gauss(0, m.ERROR_RATE_NOISE))
        total += cost + latency + availability + error_rate
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--regions", type=int, default=50)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    catalog, services = synthetic_catalog(args.regions), synthetic_services(args.services, args.regions)
    t0 = time.perf_counter()
    sim = Simulator(services, catalog, seed=1, start=START, interval_s=5.0)
    init_s = time.perf_counter() - t0
    pairs = sim.index.size

    times = []
    for k in range(args.steps):
        t0 = time.perf_counter()
        arrays = sim.step_arrays(START + timedelta(seconds=5 * k))
        arrays.validate()
        times.append(time.perf_counter() - t0)
    step_s = sum(times) / len(times)

    t0 = time.perf_counter()
    samples = arrays.to_samples()
    to_samples_s = time.perf_counter() - t0

    rng, ratios = random.Random(1), [1.0] * len(sim.index.offers)
    t0 = time.perf_counter()
    baseline_step(sim, rng, ratios, 0.0)
    baseline_s = time.perf_counter() - t0

    print(f"pairs                       {pairs:>12,} ({args.services:,} services x {args.regions} regions)")
    print(f"simulator construction      {init_s:>12.3f} s")
    print(
        f"step_arrays (mean of {args.steps})     {step_s * 1000:>12.1f} ms  ({pairs / step_s:,.0f} pairs/s)"
    )
    print(f"to_samples                  {to_samples_s:>12.3f} s   ({len(samples):,} TelemetrySample objects)")
    print(f"baseline: Python loop       {baseline_s * 1000:>12.1f} ms  (same per-pair work)")
    print(f"ratio baseline / vectorised {baseline_s / step_s:>12.1f} x")


if __name__ == "__main__":
    main()
