#!/usr/bin/env python3
"""Re-base the synthetic Alibaba offers (src/swen/data/alibaba_simulated.csv) on real Alibaba prices.

    python scripts/rebase_alibaba.py            # rewrites src/swen/data/alibaba_simulated.csv
    python scripts/rebase_alibaba.py --check    # exit 1 if the packaged file is not what this makes

Method (documented in src/swen/data/SOURCES.md):

1. Pair every real Alibaba pay-as-you-go price of ``alibaba_prices.csv`` (2019, older families) with the
   AWS on-demand price of ``prices.csv`` for the AWS shape of the same generation, vCPU:memory ratio and
   size in the AWS region of the same city: ecs.g5 <-> m5, ecs.c5 <-> c5, ecs.r5 <-> r5 (all Skylake,
   launched 2017-2018). The older network-enhanced families (sn2ne, sn1ne, se1ne) and the P100 GPU
   family (gn5: no P100 offer in prices.csv) have no AWS counterpart of their generation; they are
   reported, not used.
2. The factor of a family is the geometric mean of its pairs' Alibaba/AWS ratios; the overall factor
   is the geometric mean of every pair. Factors are rounded to 3 decimals.
3. Each synthetic row keeps its shape, its AWS equivalent and its AWS proxy region, and is priced as
   that AWS shape's on-demand and spot price in the proxy region x the factor of its family (ecs.g7:
   general purpose, ecs.c7: compute, ecs.r7: memory; the GPU families get the overall factor), rounded
   to 4 decimals. Every row still says SYNTHETIC in its source.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Iterable
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "src" / "swen" / "data"
SAME_GENERATION = {"g5": ("m5", "general"), "c5": ("c5", "compute"), "r5": ("r5", "memory")}
"""Alibaba family -> (AWS family of the same generation and vCPU:memory ratio, family kind)."""
SYNTHETIC_KIND = {"g7": "general", "c7": "compute", "r7": "memory"}
"""Synthetic Alibaba family -> family kind (anything else, the GPU families, takes the overall factor)."""
CITY = {"ap-southeast-1": "Singapore", "us-west-1": "Silicon Valley", "eu-central-1": "Frankfurt",
        "ap-northeast-1": "Tokyo"}  # fmt: skip


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _geomean(values: Iterable[float]) -> float:
    items = list(values)
    return math.exp(sum(math.log(v) for v in items) / len(items))


def real_ratios(prices: str, alibaba: str) -> list[tuple[str, str, str, float, float]]:
    """(kind, region, alibaba type, alibaba price, aws price) for every same-generation same-city pair."""
    aws = {
        (r["region"], r["instance_type"]): float(r["price_hour_usd"])
        for r in _rows(prices)
        if r["provider"] == "aws"
    }
    pairs = []
    for row in _rows(alibaba):
        _, family, size = row["instance_type"].split(".", 2)
        if family not in SAME_GENERATION:
            continue
        aws_family, kind = SAME_GENERATION[family]
        aws_price = aws.get((row["region"], f"{aws_family}.{size}"))
        if aws_price is not None:
            pairs.append((kind, row["region"], row["instance_type"], float(row["price_hour_usd"]), aws_price))
    return pairs


def factors(prices: str, alibaba: str) -> dict[str, float]:
    """Alibaba/AWS price factor per family kind and ``overall`` (rounded to 3 decimals)."""
    pairs = real_ratios(prices, alibaba)
    out = {
        kind: round(_geomean(a / w for k, _, _, a, w in pairs if k == kind), 3)
        for kind in sorted({p[0] for p in pairs})
    }
    out["overall"] = round(_geomean(a / w for _, _, _, a, w in pairs), 3)
    return out


def rebase(prices: str, alibaba: str, simulated: str) -> str:
    """The re-based alibaba_simulated.csv text (same rows and columns, new factors and prices)."""
    found = factors(prices, alibaba)
    aws = {(r["region"], r["instance_type"]): r for r in _rows(prices) if r["provider"] == "aws"}
    reader = csv.DictReader(io.StringIO(simulated))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(reader.fieldnames or []), lineterminator="\n")
    writer.writeheader()
    for row in reader:
        family = row["instance_type"].split(".")[1].split("-")[0]
        kind = SYNTHETIC_KIND.get(family, "overall")
        factor = found[kind]
        base = aws[(row["aws_proxy_region"], row["aws_equivalent"])]
        row["price_hour_usd"] = _money(float(base["price_hour_usd"]) * factor)
        spot = base["spot_price_hour_usd"]
        row["spot_price_hour_usd"] = _money(float(spot) * factor) if spot else ""
        row["price_factor"] = f"{factor:g}"
        label = "general-purpose" if kind == "general" else kind if kind != "overall" else "overall"
        row["source"] = (
            f"SYNTHETIC (the seed simulates Alibaba Cloud): AWS {row['aws_equivalent']} in "
            f"{row['aws_proxy_region']} x {factor:g} ({label} Alibaba/AWS factor of real 2019 list "
            f"prices, SOURCES.md); {CITY[row['region']]}"
        )
        writer.writerow(row)
    return out.getvalue()


def _money(value: float) -> str:
    return f"{round(value, 4):g}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only compare with the packaged file")
    args = parser.parse_args()
    texts = [(DATA / n).read_text(encoding="utf-8") for n in ("prices.csv", "alibaba_prices.csv")]
    target = DATA / "alibaba_simulated.csv"
    made = rebase(*texts, target.read_text(encoding="utf-8"))
    for kind, value in factors(*texts).items():
        print(f"{kind:8} {value}")
    if args.check:
        if made != target.read_text(encoding="utf-8"):
            print(f"{target} differs from the re-based data: run scripts/rebase_alibaba.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(made, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
