"""Catalog versions benchmark: what following the active price version costs the engine each cycle.

In one SQLite store with the default fleet's telemetry (``--steps`` simulator cycles), measures in the
same process:

- ``engine cycle``: ``EngineLoop.cycle()`` on a catalog pinned at construction (no version lookup: the
  baseline, as before catalog versions);
- ``engine cycle, followed``: the same with the store's active version followed (one ``max(id)`` query
  per cycle, the shipped behaviour);
- ``poll``: ``CatalogFollower.poll()`` alone when nothing changed;
- ``refresh``: ``swen catalog refresh`` of a whole AWS price file (validation, merge, record);
- ``take up``: the first poll after a refresh (loads and parses the new version).

Prints the median of each and the ratio followed / pinned (1.00 means following costs nothing).

    .venv/bin/python bench/catalog_bench.py [--steps 14] [--repeat 15]
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from swen.config import Settings
from swen.loop import EngineLoop
from swen.store.repository import Store
from swen.telemetry.catalog import load_catalog
from swen.telemetry.price_versions import CatalogFollower, packaged_prices, refresh
from swen.telemetry.runner import run_simulator

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _median_s(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _aws_file(price: str) -> bytes:
    rows = [r for r in csv.DictReader(io.StringIO(packaged_prices())) if r["provider"] == "aws"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        if (row["region"], row["instance_type"]) == ("us-west-2", "c5.2xlarge"):
            row["price_hour_usd"] = price
        writer.writerow(row)
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp))
        with Store.open(settings) as store:
            run_simulator(settings, store, start=T0, max_steps=args.steps, seed=11, speed=1e9)
            pinned = EngineLoop(settings, store, catalog=load_catalog(), anomaly_detection=False)
            followed = EngineLoop(settings, store, anomaly_detection=False)

            def cycle(loop: EngineLoop) -> Callable[[], object]:
                def run() -> object:
                    loop._last_tick = None  # re-evaluate the same telemetry each time
                    loop._window = None
                    return loop.cycle()

                return run

            cycle(pinned)()  # warm both (first cycles record placements)
            cycle(followed)()
            pinned_s = _median_s(cycle(pinned), args.repeat)
            followed_s = _median_s(cycle(followed), args.repeat)
            follower = CatalogFollower(store)
            poll_s = _median_s(follower.poll, args.repeat * 10)
            prices = iter(f"0.{200 + i}" for i in range(args.repeat + 1))
            refresh_s = _median_s(lambda: refresh(store, _aws_file(next(prices)), "aws.csv"), args.repeat)
            take_up = []
            for i in range(5):
                refresh(store, _aws_file(f"0.{100 + i}"), "aws.csv")
                start = time.perf_counter()
                follower.poll()
                take_up.append(time.perf_counter() - start)
    print(f"engine cycle (pinned catalog) : {pinned_s * 1000:8.1f} ms")
    print(f"engine cycle, followed        : {followed_s * 1000:8.1f} ms")
    print(f"poll, nothing changed         : {poll_s * 1000:8.2f} ms")
    print(f"refresh of {len(_aws_file('0.2').splitlines()) - 1} AWS rows        : {refresh_s * 1000:8.1f} ms")
    print(f"take up a new version         : {statistics.median(take_up) * 1000:8.1f} ms (once per refresh)")
    print(f"ratio followed / pinned       : {followed_s / pinned_s:8.2f}")


if __name__ == "__main__":
    main()
