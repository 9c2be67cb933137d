"""The engine's first cycle on a fleet it has never seen: recording N first-seen placements, each with
its own audit event, one placement at a time (the path before: ``write_one`` below, the store's old
single-placement writer kept here as the baseline, 500 per transaction) against
``Store.record_placements`` (a chunk of 500 in a few statements), side by side in one process, on
SQLite and on a throwaway PostgreSQL database (each path on its own empty, migrated store). Prints
wall time, this process's CPU time, the statements sent, and the ratios; both stores must end with N
placements, N events and a chain that verifies.

    source scripts/test-services.sh && cd bench
    PYTHONPATH=../src ../.venv/bin/python first_seen_bench.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, select

from pg_database import throwaway_database
from swen.domain.clock import aware_utc
from swen.domain.events import EventType
from swen.domain.models import Placement
from swen.domain.names import validate_service_name
from swen.store.db import upsert
from swen.store.records import PlacementWrite
from swen.store.repository import Store
from swen.store.tables import placements

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
CHUNK = 500
AT = datetime(2026, 12, 1, tzinfo=UTC)
PLACES = [Placement.parse(p) for p in ("aws/us-east-1", "gcp/us-central1", "azure/eastus")]
WRITES = [PlacementWrite(f"service-{n:05d}", PLACES[n % 3], None, AT) for n in range(N)]


def write_one(store: Store, conn: Connection, write: PlacementWrite) -> None:
    """The store's single-placement writer before ``_write_placements`` became the only one: a read of
    the current placement, an upsert and ``append_event``, per placement."""
    validate_service_name(write.service)
    at = aware_utc(write.at, "placement time")
    old = conn.execute(select(placements).where(placements.c.service == write.service)).first()
    values = {
        "service": write.service,
        "provider": write.placement.provider,
        "region": write.placement.region,
        "decision_id": write.decision_id,
        "applied_at": at,
    }
    upsert(conn, placements, values, ["service"])
    previous = None if old is None else f"{old.provider}/{old.region}"
    payload = {"placement": write.placement.key, "previous": previous, "applied_at": at.isoformat()}
    store.append_event(
        EventType.PLACEMENT, payload, service=write.service, decision_id=write.decision_id, conn=conn
    )


def one_at_a_time(store: Store) -> None:
    """The path before this change (``record_placements`` as it was): ~6 statements a placement."""
    for start in range(0, len(WRITES), CHUNK):
        with store.transaction() as conn:
            for write in WRITES[start : start + CHUNK]:
                write_one(store, conn, write)


def batched(store: Store) -> None:
    store.record_placements(WRITES, per_transaction=CHUNK)


def measure(url: str, path: Callable[[Store], None]) -> dict[str, float]:
    store = Store.from_url(url)
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        path(store)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        event.remove(store.engine, "before_cursor_execute", count)
        assert len(store.get_placements()) == N
        report = store.verify_audit()
        assert report.ok and report.checked == N, report  # N events on the chain, one a placement
        assert {e.type for e in store.events_after(N - 1)} == {EventType.PLACEMENT}
    finally:
        store.close()
    return {"wall": wall, "cpu": cpu, "statements": statements}


@contextmanager
def sqlite_url(tag: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{Path(tmp) / (tag + '.db')}"


@contextmanager
def pg_url(tag: str) -> Iterator[str]:
    with throwaway_database(f"swen_firstseen_{tag}") as url:
        yield url


def main() -> None:
    print(f"{N:,} first-seen placements, {CHUNK} per transaction; load average {os.getloadavg()}")
    for backend, make in (("sqlite", sqlite_url), ("postgresql", pg_url)):
        results = {}
        for name, path in (("one at a time", one_at_a_time), ("batched", batched)):
            with make(name.replace(" ", "")) as url:
                results[name] = measure(url, path)
            r = results[name]
            print(
                f"{backend:10} {name:13}: wall {r['wall']:7.2f} s  cpu {r['cpu']:6.2f} s  "
                f"statements {r['statements']:7,}  ({r['statements'] / N:.2f} a placement)"
            )
        old, new = results["one at a time"], results["batched"]
        print(
            f"{backend:10} ratio before/after: wall {old['wall'] / new['wall']:.1f}x  "
            f"cpu {old['cpu'] / new['cpu']:.1f}x  statements {old['statements'] / new['statements']:.0f}x"
            f"  (load average {os.getloadavg()[0]:.2f})"
        )


if __name__ == "__main__":
    main()
