"""Backtest benchmark: a 30-day replay of 200 services at 5-minute steps on each shipped scenario.

Each scenario runs in its own child process (so peak memory is that run's own ``ru_maxrss``) and
reports: wall time split into trace (simulator), oracle (DP) and platform (engine + gate) phases,
peak RSS, captured savings, SLO-violation minutes beyond detection, migrations and the auto-approved
share; and the captured savings again with ``manual="recheck"`` (a person approves a manual review
only if the engine still picks that target when they get to it). Baseline measured in the same
child: the platform phase against ``steps x`` one bare engine ``evaluate`` on the same window (the
floor of replaying the real engine step by step).
Also the scheduled-events reference's phase and the measure (captured savings next to SLO-minute
parity, MRs per service-month, withdrawals, reviews sent to a person, auto-approved share).
Goals: <= 60 s and <= 1 GB per run on 2 cores (``--services 1000 --no-recheck``); captured savings
>= 0.90 with SLO minutes beyond detection within 1 % of service-minutes of the oracle's.

    .venv/bin/python bench/backtest_bench.py [--services 200] [--days 30] [--scenarios calm-month,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from swen.backtest.spec import SHIPPED_SCENARIOS


def one(scenario: str, services: int, days: float, recheck: bool = True) -> dict[str, Any]:
    from swen.backtest.report import measure
    from swen.backtest.runner import BacktestConfig, prepare, replay_platform
    from swen.backtest.spec import load_spec
    from swen.engine.decide import EngineInputs, evaluate
    from swen.engine.fleet import gpu_models_by_placement

    started = time.perf_counter()
    spec = load_spec(scenario)
    config = BacktestConfig(spec=spec, days=days, seed=spec.seed, services=services)
    prepared = prepare(config)
    result = replay_platform(prepared)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_s = time.process_time()

    # floor: one bare evaluate() on the platform's final window, repeated
    services_list = list(prepared.services)
    window = result_window(prepared, result)
    gpu = gpu_models_by_placement(prepared.catalog.offers())
    now = prepared.trace.time_at(prepared.trace.steps - 1)
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        evaluate(
            EngineInputs(
                services=services_list,
                window=window,
                now=now,
                egress_usd_per_gb=prepared.catalog.egress_usd_per_gb,
                params=result.params,
                gpu_models=gpu,
            )
        )
        times.append(time.perf_counter() - t0)
    floor_s = statistics.median(times) * prepared.trace.steps
    platform = result.platform
    rechecked = (
        replay_platform(prepared, lifecycle=dataclasses.replace(config.lifecycle, manual="recheck"))
        if recheck
        else None
    )
    measured = measure(result)
    return {
        "scenario": scenario,
        "services": len(services_list),
        "days": days,
        "steps": prepared.trace.steps,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu_s, 2),
        "scheduled_s": round(result.timings["scheduled_s"], 2),
        "trace_s": round(result.timings["trace_s"], 2),
        "oracle_s": round(result.timings["oracle_s"], 2),
        "platform_s": round(result.timings["platform_s"], 2),
        "engine_floor_s": round(floor_s, 2),
        "platform_vs_floor": round(result.timings["platform_s"] / floor_s, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "trace_mb": round(prepared.trace.nbytes / 2**20, 1),
        "static_usd": round(result.static.total_usd, 2),
        "platform_usd": round(platform.total_usd, 2),
        "oracle_usd": round(result.oracle.total_usd, 2),
        "captured_savings": None if result.captured_savings is None else round(result.captured_savings, 3),
        "outage_avoided": None if result.outage_avoided is None else round(result.outage_avoided, 3),
        "captured_savings_recheck": None
        if rechecked is None or rechecked.captured_savings is None
        else round(rechecked.captured_savings, 3),
        "captured_vs_scheduled": None
        if result.captured_vs_scheduled is None
        else round(result.captured_vs_scheduled, 3),
        "scheduled_usd": round(result.scheduled.total_usd, 2),
        "measure": {k: v for k, v in measured.items() if k != "caveat"},
        "platform_migrations": int(platform.migrations.sum()),
        "oracle_migrations": int(result.oracle.migrations.sum()),
        "slo_min_platform": float(platform.slo_minutes.sum()),
        "slo_min_beyond_detection": float(platform.slo_minutes_beyond_detection.sum()),
        "outage_min": {
            "static": float(result.static.outage_minutes.sum()),
            "platform": float(platform.outage_minutes.sum()),
            "oracle": float(result.oracle.outage_minutes.sum()),
        },
        "auto_share": None if result.policy.auto_share is None else round(result.policy.auto_share, 3),
        "recommendations": result.policy.recommendations,
        "review_reasons": result.policy.reasons,
    }


def result_window(prepared: Any, result: Any) -> Any:
    """A window filled with the trace's last steps (the replay's own window is not kept)."""
    from swen.backtest.runner import platform_replay

    replay = platform_replay(prepared, params=result.params)
    last = prepared.trace.steps
    for t in range(max(0, last - result.params.stability_window), last):
        replay._observe(t, prepared.trace.time_at(t))
    return replay.window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--scenarios", default=",".join(SHIPPED_SCENARIOS))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--no-recheck", action="store_true", help="skip the --manual recheck replay")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.services, args.days, recheck=not args.no_recheck)))
        return
    rows = []
    for scenario in args.scenarios.split(","):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                scenario,
                "--services",
                str(args.services),
                "--days",
                str(args.days),
                *(["--no-recheck"] if args.no_recheck else []),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(
        f"{'scenario':18} {'wall s':>7} {'trace':>6} {'oracle':>7} {'platform':>9} {'floor':>6} {'x':>5} "
        f"{'peak MB':>8} {'captured':>9} {'recheck':>8} {'SLO>det':>8} {'out s/p/o':>14} "
        f"{'moves p/o':>10} {'auto':>5} {'vs sched':>8} {'SLO gap %':>9} {'MRs/svc-mo':>10}"
    )
    for r in rows:
        out_min = r["outage_min"]
        print(
            f"{r['scenario']:18} {r['wall_s']:7.1f} {r['trace_s']:6.1f} {r['oracle_s']:7.1f} "
            f"{r['platform_s']:9.1f} "
            f"{r['engine_floor_s']:6.1f} {r['platform_vs_floor']:5.2f} {r['peak_rss_mb']:8.0f} "
            f"{r['captured_savings'] if r['captured_savings'] is not None else 'n/a':>9} "
            f"{r['captured_savings_recheck'] if r['captured_savings_recheck'] is not None else 'n/a':>8} "
            f"{r['slo_min_beyond_detection']:8.0f} "
            f"{out_min['static']:>4.0f}/{out_min['platform']:>4.0f}/{out_min['oracle']:>4.0f} "
            f"{r['platform_migrations']:>4}/{r['oracle_migrations']:<5} "
            f"{r['auto_share'] if r['auto_share'] is not None else 'n/a':>5} "
            f"{r['captured_vs_scheduled'] if r['captured_vs_scheduled'] is not None else 'n/a':>8} "
            f"{r['measure']['slo_gap_pct_of_service_minutes']:>9.3f} "
            f"{r['measure']['mrs_per_service_month']:>10.2f}"
        )
    print(
        "goals: wall <= 60 s, peak <= 1024 MB (1,000 services); captured >= 0.90 with an SLO gap <= 1 % "
        "of service-minutes; <= 0.5 MRs per service-month on calm-month and price-war"
    )


if __name__ == "__main__":
    main()
