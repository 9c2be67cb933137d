"""Telemetry source benchmark: one cycle read from a real Prometheus against one simulator cycle.

Records ``--steps`` simulator cycles of the packaged fleet, loads them into a real Prometheus
(``promtool tsdb create-blocks-from openmetrics``, as tests/integration/test_prometheus_source.py
does), then times ``PrometheusSource.collect`` (six instant queries + parsing + validation) at each
recorded time, and ``SimulatorSource.collect`` for the same cycles as the baseline measured in the same
run. Prints figures and the ratio Prometheus / simulator (the price of reading the team's server).

    .venv/bin/python bench/prometheus_source_bench.py [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.openmetrics import LABELS, openmetrics  # the recorded-series writer of the tests
from support.prometheus import prometheus_with
from swen.config import PrometheusLabels, PrometheusSettings
from swen.telemetry.catalog import load_catalog
from swen.telemetry.credit_file import load_credit_ledger
from swen.telemetry.fleet import load_fleet_file
from swen.telemetry.prometheus import PrometheusSource
from swen.telemetry.simulator import Simulator
from swen.telemetry.source import SimulatorSource

INTERVAL_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    catalog = load_catalog()
    fleet = load_fleet_file(None, catalog)
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    times = [start + timedelta(seconds=INTERVAL_S * i) for i in range(args.steps)]
    placements = {s.name: s.fleet_placement for s in fleet.services}

    sim = SimulatorSource(
        Simulator(fleet.services, catalog, 7, start, INTERVAL_S, credits=load_credit_ledger().grants)
    )
    t0 = time.perf_counter()
    recorded = [sample for at in times for sample in sim.collect(at, placements)]
    sim_s = (time.perf_counter() - t0) / len(times)

    with tempfile.TemporaryDirectory(prefix="swen-prom-bench-") as tmp:
        t0 = time.perf_counter()
        text = openmetrics(recorded, INTERVAL_S)
        with prometheus_with(text, Path(tmp)) as url:
            load_s = time.perf_counter() - t0
            config = PrometheusSettings(
                url=url, window=f"{int(INTERVAL_S * 1.5)}s", labels=PrometheusLabels(**LABELS)
            )
            source = PrometheusSource(config, fleet.services)
            source.collect(times[1], placements)  # warm the connection
            t0 = time.perf_counter()
            read = [len(source.collect(at, placements)) for at in times]
            prom_s = (time.perf_counter() - t0) / len(times)
            source.close()
    per_cycle = len(recorded) // len(times)
    print(f"cycles: {len(times)}, samples per cycle: {per_cycle}, series lines: {text.count(chr(10))}")
    print(f"promtool blocks + prometheus start: {load_s:.1f} s")
    print(f"simulator cycle:  {sim_s * 1000:8.2f} ms")
    print(f"prometheus cycle: {prom_s * 1000:8.2f} ms  ({sum(read)} samples read)")
    print(f"ratio prometheus / simulator: {prom_s / sim_s:.1f}x")


if __name__ == "__main__":
    main()
