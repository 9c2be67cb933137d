#!/usr/bin/env python3
"""Where the platform loses against the scheduled-events reference, in dollars by cause (issue 11).

    PYTHONPATH=src python scripts/scheduled_gap.py --scenario gpu-squeeze --services 200 --days 30 --top 15

Replays the scenario as ``swen backtest`` does (the packaged calibration fold that left the scenario
out, the backtest's engine settings), keeps the engine's per-service arrays of every step, and splits
the cost gap between the platform's path and the scheduled-events reference's (which knows the
scenario's events, not the noise) step by step:

* every step where the two hold different placements adds the difference of their *list* prices (the
  noiseless trace the reference planned on) to the cause that kept the platform where it was, read
  from the engine's arrays at that step: the engine saw no better placement (the reference moved on
  foresight, or before the event showed), a move was in flight (pipeline, review), cooldown, the
  value-of-waiting hold, the savings bar, or the confidence short of 0.70 / of the gate's 0.85 with
  the lowest of its factors (``P(pays)``, ``P(outlasts payback)``, GPU capacity, freshness);
* the rest of the difference (price noise between the two placements) and the migration costs are
  totals of their own.

Prints the totals by cause, then the services that lose the most with their moves and causes.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import numpy.typing as npt

from swen.backtest.runner import platform_replay, prepare, scored_config
from swen.backtest.spec import expand_scenarios, load_services
from swen.backtest.trace import Grid, Trace, build_trace
from swen.engine.cycle import NOT_PENDING
from swen.engine.decide import EngineResult

FIELDS = ("target", "conf", "pays", "outl", "gpu", "fresh", "cool", "pending", "held", "migrate", "bar")


def path_cost(trace: Trace, grid: Grid, path: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """``T x S``: running cost of each service at the path's column in each step."""
    pair = grid.cand_pair[np.arange(path.shape[1])[None, :], path]
    out: npt.NDArray[np.float64] = trace.hourly_cost_usd[np.arange(trace.steps)[:, None], pair] * (
        grid.replicas[None, :] * trace.step_h
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--top", type=int, default=15, help="services listed (default: 15)")
    args = parser.parse_args()
    config = scored_config(args.scenario, days=args.days, services=args.services)
    spec = config.spec
    prepared = prepare(config)
    trace, grid = prepared.trace, prepared.grid
    replay = platform_replay(prepared)
    n_t, n_s = trace.steps, len(trace.services)
    rec = {f: np.zeros((n_t, n_s), dtype=np.float32) for f in FIELDS}

    def observe(t: int, result: EngineResult, _column: npt.NDArray[np.int64]) -> None:
        c = result.cycle
        for name, values in (
            ("target", c.target),
            ("conf", c.confidence),
            ("pays", c.outlook.pays_within_horizon),
            ("outl", c.outlook.outlasts_payback),
            ("gpu", c.gpu_risk),
            ("fresh", c.freshness),
            ("cool", c.cooldown_left_s),
            ("pending", c.pending_idx),
            ("held", c.held),
            ("migrate", c.migrate),
            ("bar", c.bar_savings),
        ):
            rec[name][t] = values

    replay.observer = observe
    platform = replay.run()
    p, q = platform.astype(np.intp), prepared.scheduled.path.astype(np.intp)
    real_gap = path_cost(trace, grid, p) - path_cost(trace, grid, q)
    fleet, credits = load_services(spec, services=config.services, seed=config.seed, catalog=prepared.catalog)
    expected = build_trace(
        fleet.services,
        prepared.catalog,
        seed=config.seed,
        start=config.start,
        days=config.days,
        step_s=config.step_s,
        credits=credits,
        scenarios=expand_scenarios(spec.scenarios, fleet.services),
        prices=fleet.prices,
        noise=False,
    )
    list_gap = path_cost(expected, grid, p) - path_cost(expected, grid, q)
    del expected
    to_grid = np.array(
        [[replay.grid_column(s, w) for w in range(len(replay.placements))] for s in range(n_s)]
    )

    def cause(t: int, s: int) -> str:
        target = int(rec["target"][t, s])
        column = int(to_grid[s, target]) if target >= 0 else -1
        if column < 0 or column == p[t, s]:
            if list_gap[t, s] > 0:
                return "engine sees no better placement (the reference moved on foresight)"
            return "engine sees no better placement (the reference pays more here)"
        if rec["migrate"][t, s] or rec["pending"][t, s] != NOT_PENDING:
            return "move proposed, in flight (pipeline, review)"
        if rec["cool"][t, s] > 0:
            return "cooldown"
        if rec["held"][t, s]:
            return "held: value of waiting"
        if rec["bar"][t, s] <= config.params.min_savings_usd:
            return "savings bar"
        factors = {f: float(rec[f][t, s]) for f in ("pays", "outl", "gpu", "fresh")}
        lowest = min(factors, key=lambda f: factors[f])
        names = {
            "pays": "P(pays within 3 days)",
            "outl": "P(outlasts payback)",
            "gpu": "GPU capacity",
            "fresh": "freshness",
        }
        conf = float(rec["conf"][t, s])
        band = "not above 0.70" if conf <= config.params.min_confidence else "0.70-0.85"
        return f"confidence {band}, lowest factor {names[lowest]}"

    by_cause: dict[str, float] = defaultdict(float)
    per_service: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for t, s in zip(*np.nonzero(p != q), strict=True):
        if list_gap[t, s]:
            why = cause(int(t), int(s))
            by_cause[why] += float(list_gap[t, s])
            per_service[int(s)][why] += float(list_gap[t, s])
        noise = float(real_gap[t, s] - list_gap[t, s])
        by_cause["price noise between the placements held"] += noise
        per_service[int(s)]["price noise between the placements held"] += noise
    migration = prepared.scheduled.migration_usd
    plat_migration = np.zeros(n_s)
    for s in range(n_s):
        path = np.concatenate([[grid.initial[s]], p[:, s]])
        for k in np.flatnonzero(path[1:] != path[:-1]):
            plat_migration[s] += float(grid.move_usd[s, path[k], path[k + 1]])
    for s in range(n_s):
        per_service[s]["migration costs"] += float(plat_migration[s] - migration[s])
    by_cause["migration costs"] = float((plat_migration - migration).sum())
    total = {s: sum(v.values()) for s, v in per_service.items()}
    print(f"{spec.name}: platform minus scheduled reference ${sum(total.values()):,.0f}")
    for why, usd in sorted(by_cause.items(), key=lambda kv: -kv[1]):
        print(f"  {usd:>10,.0f}  {why}")
    day = trace.step_s / 86400.0
    key = {(s, int(to_grid[s, w])): pl.key for s in range(n_s) for w, pl in enumerate(replay.placements)}
    for s in sorted(total, key=lambda k: -total[k])[: args.top]:
        moves = []
        for label, path in (("platform", p[:, s]), ("scheduled", q[:, s])):
            full = np.concatenate([[grid.initial[s]], path])
            changes = np.flatnonzero(full[1:] != full[:-1])
            at = [f"day {k * day:.2f} -> {key.get((s, int(full[k + 1])))}" for k in changes]
            moves.append(f"{label}: {', '.join(at) or 'stays'}")
        print(f"\n{trace.services[s].name} ${total[s]:,.0f} ({'; '.join(moves)})")
        for why, usd in sorted(per_service[s].items(), key=lambda kv: -abs(kv[1])):
            if abs(usd) >= 1:
                print(f"  {usd:>10,.0f}  {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
