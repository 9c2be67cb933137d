"""Backtest speed and memory at scale: ``swen backtest``'s work for N services against 100 services.

Runs the same replay the CLI runs (settings' engine parameters, the packaged calibration fold for the
scenario) twice in this process: first for ``--baseline-services`` (100) services, then for
``--services`` (N). For each it prints the CPU seconds of every phase (scheduled-events reference,
trace, oracle and accounting, platform replay), the wall time, the process's peak RSS so far and the
trace's size, then the per-service cost ratio ``(cpu_N / N) / (cpu_100 / 100)``: 1.0 means the cost
grows linearly with the fleet. The baseline runs first, so the peak after the N run is the N run's.

Goal (issue 11): 30 days x 1,000 services <= 60 CPU s and <= 1 GB peak (the CLI's own figure:
``/usr/bin/time -v swen backtest --scenario calm-month --days 30 --services 1000 --json --no-progress``).

    .venv/bin/python bench/backtest_scale_bench.py [--services 1000] [--days 30] [--scenario calm-month]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any


def run(scenario: str, services: int, days: float) -> dict[str, Any]:
    from swen.backtest.report import summary
    from swen.backtest.runner import BacktestConfig, prepare, replay_platform
    from swen.backtest.spec import load_spec
    from swen.config import load_settings
    from swen.engine.calibration import table_from_dict
    from swen.engine.params import EngineParams
    from swen.telemetry.calibration import load_calibration_data

    spec = load_spec(scenario)
    params = EngineParams.from_settings(load_settings())
    calibration = load_calibration_data()
    if calibration is not None:  # as the CLI does: the fold fitted without this scenario
        fold = table_from_dict(calibration).for_scenario(spec.name)
        params = params.model_copy(update={"calibration": fold})
    config = BacktestConfig(spec=spec, days=days, seed=spec.seed, services=services, params=params)
    wall, cpu = time.perf_counter(), time.process_time()
    prepared = prepare(config)
    cpu_prepare = time.process_time() - cpu
    result = replay_platform(prepared)
    doc = summary(result)
    cpu_total = time.process_time() - cpu
    return {
        "services": services,
        "days": days,
        "steps": prepared.trace.steps,
        "cpu_s": round(cpu_total, 2),
        "wall_s": round(time.perf_counter() - wall, 2),
        "prepare_cpu_s": round(cpu_prepare, 2),
        "phase_wall_s": {k: round(v, 2) for k, v in result.timings.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "trace_mb": round(prepared.trace.nbytes / 2**20, 1),
        "captured_savings": doc["captured_savings"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--baseline-services", type=int, default=100)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--scenario", default="calm-month")
    args = parser.parse_args()
    base = run(args.scenario, args.baseline_services, args.days)
    print(json.dumps(base), flush=True)
    big = run(args.scenario, args.services, args.days)
    print(json.dumps(big), flush=True)
    ratio = (big["cpu_s"] / big["services"]) / (base["cpu_s"] / base["services"])
    print()
    print(f"{'services':>8} {'CPU s':>7} {'prepare':>8} {'wall s':>7} {'peak MB':>8} {'trace MB':>9}")
    for r in (base, big):
        print(
            f"{r['services']:>8} {r['cpu_s']:>7.1f} {r['prepare_cpu_s']:>8.1f} {r['wall_s']:>7.1f} "
            f"{r['peak_rss_mb']:>8.0f} {r['trace_mb']:>9.0f}"
        )
    print(
        f"CPU per service, {args.services} vs {args.baseline_services} services: x{ratio:.2f} "
        f"({args.days:g} days, {args.scenario}); goal at 1,000 services and 30 days: <= 60 CPU s, <= 1 GB"
    )


if __name__ == "__main__":
    main()
