"""What the SLO repairs cost next to the SLO minutes they buy: two folders of backtest reports compared.

Usage (reports of ``swen backtest --scenario S --days 30 --services 200 --json``, one ``S.json`` per
scenario, the same scenarios and seeds in both folders)::

    python scripts/slo_repair_costs.py BEFORE_DIR AFTER_DIR

For each scenario it takes the services whose platform SLO minutes fell from BEFORE to AFTER and prints
how many minutes that is and what those services' platform bill did over the replay. It also prints
the whole fleet's bill change, the repairs the gate saw (``policy.slo_repairs``, auto-approved in
brackets) and the auto-approved share without them. The output is a Markdown table
(docs/BENCHMARKS.md, sloswap).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from swen.backtest.spec import SHIPPED_SCENARIOS


def _load(folder: Path, scenario: str) -> dict[str, Any] | None:
    path = folder / f"{scenario}.json"
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        print(f"skipping {path}: not a complete JSON report ({exc}); run the backtest again", file=sys.stderr)
        return None
    return data


def row(scenario: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    old = {r["service"]: r["platform"] for r in before["services"]}
    names: list[str] = []
    minutes = cost = 0.0
    for r in after["services"]:
        was = old.get(r["service"])
        if was is None:
            continue
        fell = was["slo_violation_minutes"] - r["platform"]["slo_violation_minutes"]
        if fell > 1:
            names.append(r["service"])
            minutes += fell
            cost += r["platform"]["cost_usd"] - was["cost_usd"]
    fleet = (
        after["strategies"]["platform"]["total_cost_usd"] - before["strategies"]["platform"]["total_cost_usd"]
    )
    policy = after["policy"]
    per = f"${cost / minutes * 1000:,.1f}" if minutes else "n/a"
    repairs = f"{policy.get('slo_repairs', 'n/a')} ({policy.get('slo_repairs_auto', 'n/a')})"
    return (
        f"| {scenario} | {len(names)} ({', '.join(names)}) | {minutes:,.0f} | {cost:+,.0f} | {per} | "
        f"{fleet:+,.0f} | {repairs} | {policy.get('auto_share_without_repairs', 'n/a')} |"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all(Path(a).is_dir() for a in argv):
        print(
            "usage: python scripts/slo_repair_costs.py BEFORE_DIR AFTER_DIR (folders of S.json reports)",
            file=sys.stderr,
        )
        return 2
    before_dir, after_dir = (Path(a) for a in argv)
    print(
        "| scenario | services whose SLO minutes fell | SLO minutes bought | their bill ($) | "
        "$ per 1,000 SLO minutes | fleet bill ($) | repairs gated (auto) | auto share without repairs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for scenario in SHIPPED_SCENARIOS:
        before, after = _load(before_dir, scenario), _load(after_dir, scenario)
        if before is not None and after is not None:
            print(row(scenario, before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
