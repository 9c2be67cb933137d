#!/usr/bin/env python3
"""Fit the packaged confidence calibration (src/swen/data/confidence_calibration.json) on replays.

    PYTHONPATH=src python scripts/calibrate_confidence.py     # the 7 scenarios, 200 services, 30 days
    PYTHONPATH=src python scripts/calibrate_confidence.py --scenarios calm-month,price-war --days 10

This is the one command that produces the committed table (run it from the repository's root after
the engine, the review policy or the data change, then commit the file it writes). Needs scikit-learn
(``pip install 'swen[calibrate]'``). Fitted on the decisions that reach the policy gate in replays of
the generated fleet, labelled with the bill's verdict (swen.backtest.hindsight), leave-one-scenario-out:
fold X never saw scenario X, and ``swen backtest --scenario X`` is scored with fold X (see
swen.backtest.calibration_fit). The default (``--start raw --rounds 2 --fit-on all``) is the method
of the packaged table: round 1 replays each scenario with the raw probability as confidence, round 2
with its round-1 fold, and the folds are fitted on both rounds' decisions. ``--start packaged`` starts
from the packaged table instead and ``--fit-on last`` fits on the last round only (the decisions made
with the previous table); one such step overshot (docs/BENCHMARKS.md, issue 11 "the label and the
calibration"), so check ``provenance.rounds_ece`` and the seven backtests before committing its table.
Reproducible: the replays are seeded by each scenario's seed and the fit is deterministic, so
the same code, data and starting table give the same file (``--jobs`` only changes the wall time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from swen.backtest.calibration_fit import fit_table
from swen.backtest.spec import SHIPPED_SCENARIOS
from swen.engine.calibration import table_from_dict

OUT = Path(__file__).resolve().parents[1] / "src" / "swen" / "data" / "confidence_calibration.json"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenarios", default=",".join(SHIPPED_SCENARIOS), help="comma-separated scenario names"
    )
    parser.add_argument("--days", type=float, default=30.0, help="days per replay (default: 30)")
    parser.add_argument("--services", type=int, default=200, help="generated fleet size (default: 200)")
    parser.add_argument("--rounds", type=int, default=2, help="replay rounds (default: 2)")
    parser.add_argument(
        "--start",
        default="raw",
        help="the table round 1 replays with: raw (default: no table, the raw probability), packaged "
        "(the file --out replaces), or a path to a table",
    )
    parser.add_argument(
        "--fit-on",
        choices=("all", "last"),
        default="all",
        help="fit each round's folds on the decisions of every round so far (default) or the last only",
    )
    parser.add_argument("--jobs", type=int, default=1, help="replays run at once (default: 1)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if len(set(scenarios)) < 2:
        parser.error("leave-one-scenario-out needs at least two distinct scenarios")
    if args.rounds < 1 or args.jobs < 1:
        parser.error("--rounds and --jobs must be at least 1")
    start, note = None, None
    if args.start != "raw":
        path = OUT if args.start == "packaged" else Path(args.start)
        try:
            data = path.read_bytes()
            start = table_from_dict(json.loads(data))
        except (OSError, ValueError) as exc:
            parser.error(f"cannot read the starting table {path}: {exc} (use --start raw to fit without one)")
        note = f"{path.name} sha256 {hashlib.sha256(data).hexdigest()}"
    try:
        table = fit_table(
            scenarios,
            days=args.days,
            services=args.services,
            rounds=args.rounds,
            start=start,
            start_note=note,
            fit_on=args.fit_on,
            jobs=args.jobs,
            log=lambda m: print(m, file=sys.stderr),
        )
    except ValueError as exc:
        parser.error(str(exc))
    text = json.dumps(table.model_dump(mode="json", by_alias=True), indent=1) + "\n"
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    for check in table.provenance["checks"]:
        print(json.dumps(check), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
