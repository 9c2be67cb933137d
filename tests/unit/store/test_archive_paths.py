"""The archive's read paths: archives written before the ADBC path stay readable and equal to new
ones; the PostgreSQL path (ADBC) reads exactly the snapshot the day was counted in, in fixed batches."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from support.builders import T0, telemetry_sample
from swen.domain.errors import StoreError
from swen.domain.models import TelemetrySample
from swen.store.archive import SCHEMA, Archive, arrow_batches, day_batches, row_batches
from swen.store.maintenance import archive_day
from swen.store.repository import Store

DAY0 = T0.date()
FIXTURE = Path(__file__).parents[2] / "fixtures" / "archive" / "telemetry-20261101.parquet"
"""Written by the archive code before this change (the row path, from PostgreSQL) from
``_samples()``: 96 rows."""
KEYS = [("ts", "ascending"), ("service", "ascending"), ("provider", "ascending"), ("region", "ascending")]


def _samples() -> list[TelemetrySample]:
    out = []
    for i in range(24):
        ts = T0 + timedelta(seconds=i * 3600, microseconds=123457 * i)  # microseconds survive
        for service in ("service-1", "service-2"):
            for where in ("aws/us-east-1", "alibaba/cn-hangzhou"):
                out.append(telemetry_sample(service, where, ts=ts, latency=10.0 + i / 7, credits=i * 0.1))
    return out


def _sorted(samples: list[TelemetrySample]) -> list[TelemetrySample]:
    return sorted(samples, key=lambda s: (s.ts, s.service, s.provider, s.region))


def _old_archive(tmp_path: Path) -> Archive:
    archive = Archive((tmp_path / "old").as_uri())
    target = Path(archive.path(DAY0))
    target.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, target)
    return archive


def test_an_archive_written_before_reads_back_equal(tmp_path: Path) -> None:
    archive = _old_archive(tmp_path)
    assert pq.read_schema(FIXTURE).equals(SCHEMA)
    assert archive.days() == [DAY0] and archive.rows_in(DAY0) == 96
    assert archive.read(start=T0, end=T0 + timedelta(days=1)) == _sorted(_samples())
    one = archive.read(start=T0, end=T0 + timedelta(hours=5), service="service-2", provider="alibaba")
    assert one == [s for s in _sorted(_samples()) if s.service == "service-2" and s.provider == "alibaba"][:5]
    # a rerun of the day over it (same count) keeps the old object as it is
    before = FIXTURE.read_bytes()
    again = archive.write_day(DAY0, iter(()), 96)
    assert not again.written and Path(again.path).read_bytes() == before


def test_the_new_paths_write_what_the_old_one_wrote(store: Store, tmp_path: Path) -> None:
    store.insert_samples(_samples())
    done = archive_day(store, Archive((tmp_path / "new").as_uri()), DAY0)
    assert done.written and done.rows == 96
    new, old = pq.read_table(done.path), pq.read_table(FIXTURE)
    assert new.schema.equals(old.schema)
    assert new.sort_by(KEYS).equals(old.sort_by(KEYS))


def test_day_batches_come_in_fixed_sizes_equal_to_the_row_path(store: Store) -> None:
    store.insert_samples(_samples())
    store.insert_samples([telemetry_sample(ts=T0 + timedelta(days=1))])  # the next day: not included
    with store.reading("test") as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        batches = list(day_batches(conn, DAY0, rows_per_batch=10))
        reference = pa.Table.from_batches(list(row_batches(conn, DAY0)), schema=SCHEMA)
    assert [b.num_rows for b in batches] == [10] * 9 + [6]
    assert all(b.schema.equals(SCHEMA) for b in batches)
    got = pa.Table.from_batches(batches, schema=SCHEMA)
    assert got.sort_by(KEYS).equals(reference.sort_by(KEYS))


@pytest.mark.postgres
def test_the_arrow_path_reads_the_snapshot_the_day_was_counted_in(pg_url: str) -> None:
    """Rows committed after the count, by another writer, are not in the archive: the count and the
    rows written agree, so the drop's check (same count) decides whether the day may go."""
    from sqlalchemy import text

    with Store.from_url(pg_url) as store:
        store.insert_samples(_samples())
        with store.reading("test") as conn:
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            counted = conn.execute(text("SELECT count(*) FROM telemetry_samples")).scalar_one()
            store.insert_samples([telemetry_sample("service-9", ts=T0 + timedelta(hours=2))])  # committed
            rows = sum(b.num_rows for b in arrow_batches(conn, DAY0))
        assert counted == rows == 96
        with store.reading("test") as conn:  # a new snapshot sees the late row
            assert sum(b.num_rows for b in arrow_batches(conn, DAY0)) == 97


@pytest.mark.postgres
def test_the_arrow_path_fails_with_a_store_error(pg_url: str) -> None:
    with Store.from_url(pg_url, migrate=False) as store, store.reading("test") as conn:
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(StoreError, match="reading the telemetry of 2026-11-01") as info:
            list(arrow_batches(conn, DAY0))
        assert info.value.hint is not None and "nothing was dropped" in info.value.hint
