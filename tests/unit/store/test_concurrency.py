"""Several writers at once: threads and processes append events; the chain stays intact.

Crash safety: a transaction that fails half-way leaves nothing; a process killed with SIGKILL during
a bulk insert leaves all of its batch or none of it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from support.builders import T0, telemetry_sample, telemetry_series
from swen.domain.errors import StoreError
from swen.domain.events import EventType
from swen.domain.models import TelemetrySample
from swen.store.repository import Store
from swen.store.tables import events, telemetry_samples

SRC = str(Path(__file__).resolve().parents[3] / "src")


def _assert_chain(store: Store, expected: int) -> None:
    rows = store.events_after(0, limit=10_000)
    ids = [e.id for e in rows]
    assert ids == list(range(1, expected + 1))  # strictly increasing, no duplicates, no gaps
    report = store.verify_audit()
    assert report.ok, report.problem
    assert report.checked == expected


def test_threads_append_concurrently(store: Store) -> None:
    def work(worker: int) -> None:
        for i in range(20):
            store.append_event(EventType.SCENARIO, {"worker": worker, "i": i})

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(work, range(6)))
    _assert_chain(store, 120)
    per_worker = [e.payload["i"] for e in store.events_after(0, limit=1000) if e.payload["worker"] == 3]
    assert per_worker == list(range(20))


_WRITER = textwrap.dedent(
    """
    import sys, time
    from swen.domain.events import EventType
    from swen.store.repository import Store
    url, worker, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    while time.time() < start_at:
        time.sleep(0.005)
    store = Store.from_url(url)  # all of them migrate the fresh database at the same moment
    for i in range(25):
        store.append_event(EventType.SCENARIO, {"worker": worker, "i": i})
    store.close()
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC}


def test_processes_migrate_and_append_concurrently(database_url: str) -> None:
    start_at = time.time() + 3.0
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, database_url, str(w), str(start_at)], env=_env())
        for w in range(4)
    ]
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0, 0, 0, 0]
    store = Store.from_url(database_url, migrate=False)
    try:
        _assert_chain(store, 100)
    finally:
        store.close()


def test_failing_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(telemetry_samples.insert(), [{"service": "api", **_row_values()}])
        store.append_event(EventType.SCENARIO, {"half": True}, conn=conn)
        raise RuntimeError("crash between two writes")
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(telemetry_samples)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 0
    store.append_event(EventType.SCENARIO, {"after": True})
    _assert_chain(store, 1)


def _row_values() -> dict[str, object]:
    # now: on PostgreSQL a plain INSERT needs the day's partition, which the migration made for today
    # (the ingest makes any day's itself)
    sample = telemetry_sample(ts=datetime.now(UTC))
    return {k: v for k, v in sample.model_dump().items() if k != "service"}


def test_batch_with_a_bad_row_inserts_nothing(store: Store) -> None:
    good = telemetry_series(500)
    bad = TelemetrySample.model_construct(**{**telemetry_sample().model_dump(), "instance_type": None})
    with pytest.raises(StoreError) as info:
        store.insert_samples([*good, bad])
    assert info.value.hint
    assert store.samples_between(start=T0, end=T0.replace(year=2030)) == []


_BULK = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from swen.domain.models import TelemetrySample
    from swen.store.repository import Store
    url, n = sys.argv[1], int(sys.argv[2])
    store = Store.from_url(url, migrate=False)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    batch = [
        TelemetrySample(service="api", provider="aws", region="us-east-1", ts=t0 + timedelta(seconds=i),
                        instance_type="m5.xlarge", hourly_cost_usd=1.0, latency_ms=40.0, credits_usd=0.0,
                        gpu_availability=1.0, availability=1.0, error_rate=0.0)
        for i in range(n)
    ]
    print("ready", flush=True)
    while True:
        store.insert_samples(batch)
    """
)


def test_sigkill_during_bulk_insert_leaves_whole_batches(store: Store, database_url: str) -> None:
    batch = 40_000
    proc = subprocess.Popen(
        [sys.executable, "-c", _BULK, database_url, str(batch)], env=_env(), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.2)  # a few batches commit; the kill lands in the middle of one of them
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with store.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(telemetry_samples)).scalar_one()
    assert count % batch == 0
    store.insert_samples(telemetry_series(3))  # the store is still writable after the crash


def test_nested_write_transaction_fails_fast_instead_of_deadlocking(store: Store) -> None:
    with store.transaction() as conn:
        store.append_event(EventType.SCENARIO, {"inner": False}, conn=conn)
        with pytest.raises(StoreError, match="already open"):
            store.append_event(EventType.SCENARIO, {"inner": True})
    store.append_event(EventType.SCENARIO, {"after": True})
    _assert_chain(store, 2)


def test_readers_do_not_wait_for_an_open_write_transaction(store: Store) -> None:
    store.append_event(EventType.SCENARIO, {"committed": True})
    with store.transaction() as conn:
        store.append_event(EventType.SCENARIO, {"committed": False}, conn=conn)
        with ThreadPoolExecutor(max_workers=1) as pool:  # another connection, while the lock is held
            seen = pool.submit(store.events_after, 0).result(timeout=5)
        assert [e.payload for e in seen] == [{"committed": True}]  # no dirty read, no wait
    assert len(store.events_after(0)) == 2
