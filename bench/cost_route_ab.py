"""``GET /cost-analysis?days=30`` in-process (ASGI) on an already seeded database: wall and CPU per request.

Run it alternately with two source trees on the same database to compare them side by side (the
store is opened without migrating, so an older tree reads a newer schema):

    PYTHONPATH=/work/main/src .venv/bin/python bench/cost_route_ab.py --url URL --key KEY --label main
    PYTHONPATH=$PWD/src       .venv/bin/python bench/cost_route_ab.py --url URL --key KEY --label branch

URL: a database seeded e.g. with bench/cost_tab_bench.py's ``seed`` (10,000 services, 30 days); KEY: a
viewer key of it. Prints one JSON line: the label, [wall, CPU] per request, the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from swen.api.app import create_app
from swen.config import Settings
from swen.store.repository import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--label", default="this tree")
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), database_url=args.url)
        store = Store.from_url(args.url, migrate=False)
        app = create_app(settings, store=store)
        with TestClient(app) as client:
            versions = app.state.versions
            deadline = time.time() + 10  # the listener's first heartbeat, where there is one
            while time.time() < deadline and (
                versions.notified is None or versions.notified.current("events") is None
            ):
                time.sleep(0.05)
            for _ in range(args.runs):
                t, c = time.perf_counter(), time.process_time()
                response = client.get(
                    "/cost-analysis",
                    params={"days": args.days},
                    headers={"Authorization": f"Bearer {args.key}"},
                )
                response.raise_for_status()
                runs.append((round(time.perf_counter() - t, 3), round(time.process_time() - c, 3)))
                time.sleep(0.5)
        store.close()
    print(json.dumps({"label": args.label, "runs": runs, "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
