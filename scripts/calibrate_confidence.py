#!/usr/bin/env python3
"""Fit the packaged confidence calibration (src/swen/data/confidence_calibration.json) on replays.

    PYTHONPATH=src python scripts/calibrate_confidence.py     # the 7 scenarios, 200 services, 30 days
    PYTHONPATH=src python scripts/calibrate_confidence.py --scenarios calm-month,price-war --days 10

Needs scikit-learn (``pip install 'swen[calibrate]'``). Fitted on the decisions that reach the policy
gate in replays of the generated fleet, leave-one-scenario-out: fold X never saw scenario X, and
``swen backtest --scenario X`` is scored with fold X (see swen.backtest.calibration_fit).
Deterministic for the same scenarios and settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swen.backtest.calibration_fit import fit_table

SHIPPED = (
    "calm-month",
    "price-war",
    "gpu-scarcity",
    "provider-outages",
    "price-duel",
    "gpu-squeeze",
    "noisy-flat",
)
OUT = Path(__file__).resolve().parents[1] / "src" / "swen" / "data" / "confidence_calibration.json"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default=",".join(SHIPPED), help="comma-separated scenario names")
    parser.add_argument("--days", type=float, default=30.0, help="days per replay (default: 30)")
    parser.add_argument("--services", type=int, default=200, help="generated fleet size (default: 200)")
    parser.add_argument("--rounds", type=int, default=2, help="replay rounds (default: 2)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if len(set(scenarios)) < 2:
        parser.error("leave-one-scenario-out needs at least two distinct scenarios")
    table = fit_table(
        scenarios,
        days=args.days,
        services=args.services,
        rounds=args.rounds,
        log=lambda m: print(m, file=sys.stderr),
    )
    text = json.dumps(table.model_dump(mode="json", by_alias=True), indent=1) + "\n"
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    for check in table.provenance["checks"]:
        print(json.dumps(check), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
