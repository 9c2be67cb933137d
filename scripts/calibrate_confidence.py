#!/usr/bin/env python3
"""Fit the packaged confidence calibration (src/swen/data/confidence_calibration.json) on replays.

    PYTHONPATH=src python scripts/calibrate_confidence.py            # the four shipped scenarios
    PYTHONPATH=src python scripts/calibrate_confidence.py --scenarios calm-month,price-war --days 10

Needs scikit-learn (``pip install 'swen[calibrate]'``). Cross-fitted: fold X never saw scenario X
(see swen.backtest.calibration_fit). Deterministic for the same scenarios and settings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swen.backtest.calibration_fit import fit_table

SHIPPED = ("calm-month", "price-war", "gpu-scarcity", "provider-outages")
OUT = Path(__file__).resolve().parents[1] / "src" / "swen" / "data" / "confidence_calibration.json"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default=",".join(SHIPPED), help="comma-separated scenario names")
    parser.add_argument("--days", type=float, default=None, help="days per replay (default: each file's)")
    parser.add_argument("--services", type=int, default=None, help="fleet size (default: the fleet file's)")
    parser.add_argument("--every", type=int, default=3, help="sample candidate moves every N steps")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if len(scenarios) < 2:
        parser.error("cross-fitting needs at least two scenarios")
    table = fit_table(
        scenarios,
        days=args.days,
        services=args.services,
        every=args.every,
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
