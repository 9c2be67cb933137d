#!/usr/bin/env python3
"""Which auto-approved moves were not net positive in hindsight, and why (a reading aid for issue 11).

    PYTHONPATH=src python scripts/gate_hindsight.py --scenario calm-month --services 200 --days 30

Replays the scenario as ``swen backtest`` does (the packaged calibration fold that left the scenario
out, the backtest's engine settings) and prints one row per gate decision labelled as the report
labels it (``backtest.hindsight.bill_verdict``: the bill with the move held for three days against the
bill without it, credits included, after the migration cost the bill charges):
what the engine predicted (monthly gross saving, its 3-day share, the one-time cost, payback, the
advantage's expected duration, confidence) next to what the trace then paid (the 3-day saving, and
the saving to the end of the replay). ``--all`` prints every gate decision, not only the auto-approved
moves that lost money.
"""

from __future__ import annotations

import argparse

import numpy as np

from swen.backtest.calibration import GATE_EVENTS
from swen.backtest.hindsight import bill_verdict, service_move, step_cost
from swen.backtest.runner import platform_replay, prepare, scored_config
from swen.domain.decision import Decision
from swen.engine.calibration import HINDSIGHT_HORIZON_S

COLUMNS = (
    "day",
    "service",
    "criticality",
    "gate",
    "confidence",
    "raw",
    "z",
    "gross $/mo",
    "pred 3d $",
    "move $",
    "payback d",
    "lasts d",
    "list 3d $",
    "credits $",
    "bill net $",
    "list to end $",
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--all", action="store_true", help="every labelled gate decision")
    args = parser.parse_args()
    config = scored_config(args.scenario, days=args.days, services=args.services)
    spec = config.spec
    prepared = prepare(config)
    trace, grid = prepared.trace, prepared.grid
    replay = platform_replay(prepared)
    seen: list[tuple[int, int, int, int, Decision, str]] = []

    def observe(t: int, decision: Decision, outcome: str) -> None:
        s = replay.window.service_index[decision.service]
        col = replay.window.placement_index.get(decision.target.key)
        c0, c1 = int(replay.column[s]), -1 if col is None else replay.grid_column(s, col)
        keep = outcome in GATE_EVENTS and c1 >= 0 and c1 != c0
        result = replay.last_result
        if (
            keep
            and result is not None
            and not service_move(result.cycle, result.cycle.row_of[decision.service])
        ):
            seen.append((t, s, c0, c1, decision, outcome))

    replay.gate_observer = observe
    path = replay.run()
    if not seen:
        print(f"{spec.name}: no gate decisions")
        return 0
    t, s, c0, c1 = (np.array([row[j] for row in seen], dtype=np.int64) for j in range(4))
    verdict = bill_verdict(trace, grid, path, t, s, c0, c1)
    labelled, positive = verdict.labelled, verdict.positive
    horizon = round(HINDSIGHT_HORIZON_S / trace.step_s)
    print("\t".join(COLUMNS))
    auto = lost = 0
    for k, (tk, sk, a, b, decision, outcome) in enumerate(seen):
        if not labelled[k]:
            continue
        is_auto = outcome == "auto_approve"
        auto += is_auto
        lost += is_auto and not positive[k]
        if not args.all and (not is_auto or positive[k]):
            continue
        lo, hi = tk + 1, min(trace.steps, tk + 1 + horizon)
        real3 = float((step_cost(trace, grid, sk, a, lo, hi) - step_cost(trace, grid, sk, b, lo, hi)).sum())
        gap = step_cost(trace, grid, sk, a, lo, trace.steps) - step_cost(trace, grid, sk, b, lo, trace.steps)
        c, sv, f = decision.confidence, decision.savings, decision.forecast
        row = (
            f"{tk * trace.step_s / 86400:.1f}",
            decision.service,
            trace.services[sk].criticality.value + (" stateful" if trace.services[sk].stateful else ""),
            outcome,
            f"{c.value:.3f}",
            f"{(c.raw or 0.0):.3f}",
            f"{(c.evidence or 0.0):.1f}",
            f"{sv.gross_monthly_usd:,.0f}",
            f"{sv.gross_monthly_usd * HINDSIGHT_HORIZON_S / 86400 / 30.44:,.1f}",
            f"{float(grid.move_usd[sk, a, b]):,.1f}",
            "-" if f is None or f.payback_days is None else f"{f.payback_days:.2f}",
            "-" if f is None else f"{f.days:.1f}",
            f"{real3:,.1f}",
            f"{float(verdict.credit_saved_usd[k]):,.1f}",
            f"{float(verdict.net_usd[k]):,.1f}",
            f"{float(gap.sum()):,.1f}",
        )
        print("\t".join(row))
    print(
        f"{spec.name}: {int(labelled.sum())} labelled gate decisions, {auto} auto-approved, "
        f"{lost} of them not net positive"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
