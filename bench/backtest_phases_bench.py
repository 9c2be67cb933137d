"""CPU and RSS of each phase of one ``swen backtest`` run, in-process (the runner's functions wrapped).

Prints, for each call of the trace build, the DPs, the accounting, the platform replay and the
replay's calibration report (the hindsight label of every gated move), its CPU
seconds and the process's RSS before and after it (and the high-water mark), then the totals. RSS
growth over ``PlatformReplay.run`` is the replay's own memory (issue 11's 1 GB goal).

    .venv/bin/python bench/backtest_phases_bench.py --scenario provider-outages --services 1000 --days 30
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any


def rss_mb() -> tuple[int, int]:
    """(current RSS, high-water mark) in MB, from /proc/self/status."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


def timed(name: str, fn: Callable[..., Any], cpu: dict[str, float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started, before = time.process_time(), rss_mb()
        out = fn(*args, **kwargs)
        spent = time.process_time() - started
        cpu[name] = cpu.get(name, 0.0) + spent
        after = rss_mb()
        print(f"  {name}: cpu {spent:.1f} s, rss {before[0]} -> {after[0]} MB, hwm {after[1]} MB", flush=True)
        return out

    return wrapper


def main() -> None:
    from swen.backtest import runner, strategies
    from swen.backtest.report import summary
    from swen.backtest.spec import load_spec
    from swen.config import load_settings
    from swen.engine.calibration import table_from_dict
    from swen.engine.params import EngineParams
    from swen.telemetry.calibration import load_calibration_data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="price-war")
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--days", type=float, default=30.0)
    args = parser.parse_args()
    spec = load_spec(args.scenario)
    params = EngineParams.from_settings(load_settings())
    calibration = load_calibration_data()
    if calibration is not None:  # as the CLI does: the fold fitted without this scenario
        params = params.model_copy(
            update={"calibration": table_from_dict(calibration).for_scenario(spec.name)}
        )
    config = runner.BacktestConfig(
        spec=spec, days=args.days, seed=spec.seed, services=args.services, params=params
    )
    cpu: dict[str, float] = {}
    for name in ("build_trace", "oracle_path", "account", "replay_calibration"):
        setattr(runner, name, timed(name, getattr(runner, name), cpu))
    run = strategies.PlatformReplay.run
    strategies.PlatformReplay.run = timed("PlatformReplay.run", run, cpu)  # type: ignore[method-assign]
    started = time.process_time()
    prepared = runner.prepare(config)
    result = runner.replay_platform(prepared)
    summary(result)
    total = time.process_time() - started
    print(f"total cpu {total:.1f} s, rss/hwm {rss_mb()} MB, trace {prepared.trace.nbytes / 2**20:.0f} MB")
    print({k: round(v, 1) for k, v in cpu.items()})


if __name__ == "__main__":
    main()
