"""Partitions (PostgreSQL), retention that drops whole days, and the Parquet archive round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from support.builders import T0, telemetry_sample
from swen.config import Settings
from swen.domain.errors import StoreError
from swen.domain.models import TelemetrySample
from swen.store import partitions
from swen.store.archive import Archive
from swen.store.maintenance import archive_day, drop_day, maintain
from swen.store.repository import Store

DAY0 = T0.date()  # 2026-11-01


def _days_of_samples(days: int, per_day: int = 24) -> list[TelemetrySample]:
    """``per_day`` samples a day for two services on two places, ``days`` days from T0."""
    out = []
    for i in range(days * per_day):
        ts = T0 + timedelta(seconds=i * 86400 // per_day)
        for service in ("service-1", "service-2"):
            for where in ("aws/us-east-1", "alibaba/cn-hangzhou"):
                out.append(telemetry_sample(service, where, ts=ts, latency=10.0 + i % 50, credits=float(i)))
    return out


def _all(store: Store) -> list[TelemetrySample]:
    rows = store.samples_between(start=T0 - timedelta(days=30), end=T0 + timedelta(days=30))
    return sorted(rows, key=lambda s: (s.ts, s.service, s.provider, s.region))


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(home=tmp_path / "home", **overrides)  # type: ignore[arg-type]


@pytest.mark.postgres
def test_partitions_are_made_ahead_and_by_the_ingest(pg_url: str, tmp_path: Path) -> None:
    with Store.from_url(pg_url) as store:
        report = maintain(store, _settings(tmp_path, telemetry_partition_ahead_days=3), now=T0)
        assert report.partitions_created == [DAY0 + timedelta(days=i) for i in range(4)]
        assert maintain(store, _settings(tmp_path), now=T0).partitions_created == []
        later = T0 + timedelta(days=20, hours=5)
        store.insert_samples([telemetry_sample(ts=later), telemetry_sample(ts=T0)])
        with store.engine.connect() as conn:
            days = [p.day for p in partitions.list_partitions(conn)]
            in_later = conn.execute(text(f"SELECT count(*) FROM {partitions.partition_name(later.date())}"))
            assert in_later.scalar_one() == 1
        assert later.date() in days and DAY0 in days


@pytest.mark.postgres
def test_a_new_day_partition_under_concurrent_writers(pg_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    day = T0 + timedelta(days=40)
    with Store.from_url(pg_url) as store:
        batches = [[telemetry_sample(f"service-{i}", ts=day + timedelta(seconds=i))] for i in range(8)]
        with ThreadPoolExecutor(4) as pool:
            assert sum(pool.map(store.insert_samples, batches)) == 8
        with store.engine.connect() as conn:
            assert [p.day for p in partitions.list_partitions(conn)].count(day.date()) == 1


def test_retention_archives_then_drops_whole_days(store: Store, tmp_path: Path) -> None:
    samples = _days_of_samples(3)
    store.insert_samples(samples)
    before = _all(store)
    settings = _settings(tmp_path, telemetry_retention_days=1)
    now = T0 + timedelta(days=2, hours=6)  # cutoff: day 1, 06:00 -> only day 0 has wholly expired
    report = maintain(store, settings, now=now)
    assert report.dropped_days == [DAY0]
    assert report.deleted_rows == 24 * 4
    assert [a.rows for a in report.archived] == [24 * 4]
    left = _all(store)
    assert left == [s for s in before if s.ts >= T0 + timedelta(days=1)]
    with store.engine.connect() as conn:
        if partitions.is_partitioned(conn):  # PostgreSQL: the partition itself is gone
            assert DAY0 not in [p.day for p in partitions.list_partitions(conn)]
            assert DAY0 + timedelta(days=1) in [p.day for p in partitions.list_partitions(conn)]
    # round trip: what was dropped reads back from Parquet, equal
    archive = Archive(settings.resolved_archive_url)
    assert archive.read(start=T0, end=T0 + timedelta(days=1)) == [s for s in before if s.ts.date() == DAY0]
    assert archive.days() == [DAY0]
    one = archive.read(start=T0, end=T0 + timedelta(hours=3), service="service-2", provider="aws")
    assert one == [
        s
        for s in before
        if s.service == "service-2" and s.provider == "aws" and s.ts < T0 + timedelta(hours=3)
    ]
    # the hours of the dropped day were rolled up first
    assert report.rollup_hours >= 24


def test_rerun_after_a_crash_between_archive_and_drop_duplicates_nothing(
    store: Store, tmp_path: Path
) -> None:
    store.insert_samples(_days_of_samples(2))
    settings = _settings(tmp_path, telemetry_retention_days=1)
    archive = Archive(settings.resolved_archive_url)
    first = archive_day(store, archive, DAY0)  # ... and the process died here, before the drop
    assert first.written and first.rows == 24 * 4
    Path(first.path + ".tmp").write_bytes(b"half a file from an earlier crash")
    report = maintain(store, settings, now=T0 + timedelta(days=2, hours=1))
    assert [(a.day, a.written) for a in report.archived] == [(DAY0, False)]  # complete: not rewritten
    assert report.deleted_rows == 24 * 4
    assert len(archive.read(start=T0, end=T0 + timedelta(days=1))) == 24 * 4
    assert maintain(store, settings, now=T0 + timedelta(days=2, hours=1)).dropped_days == []


def test_a_day_that_grew_after_its_archive_is_not_dropped(store: Store, tmp_path: Path) -> None:
    store.insert_samples(_days_of_samples(1))
    archive = Archive(_settings(tmp_path).resolved_archive_url)
    done = archive_day(store, archive, DAY0)
    store.insert_samples([telemetry_sample("service-9", ts=T0 + timedelta(hours=1))])
    with pytest.raises(StoreError, match="holds 97 rows but 96 were archived"):
        drop_day(store, DAY0, done.rows)
    assert len(_all(store)) == 97


def test_sqlite_deletes_in_bounded_batches(settings: Settings, tmp_path: Path) -> None:
    with Store.open(settings) as store:
        store.insert_samples(_days_of_samples(1))
        assert drop_day(store, DAY0, 96, batch=10) == 96
        assert _all(store) == []


def test_bad_archive_url_is_refused_with_the_fix(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="file:///absolute/folder or s3://bucket/prefix"):
        _settings(tmp_path, archive_url="ftp://example.com/x")
    with pytest.raises(ValidationError, match=r"no query, fragment or '\.\.'"):
        _settings(tmp_path, archive_url="s3://bucket/../other")


def test_day_boundaries_are_utc() -> None:
    assert partitions.day_of(datetime(2026, 11, 1, 23, 30, tzinfo=UTC)) == date(2026, 11, 1)
    assert partitions.partition_name(date(2026, 11, 1)) == "telemetry_samples_p20261101"
    assert partitions.is_partition_name("telemetry_samples_p20261101")
    assert not partitions.is_partition_name("telemetry_samples")


def test_a_day_is_not_dropped_before_its_hours_are_rolled_up(store: Store, tmp_path: Path) -> None:
    from swen.store import rollups

    store.insert_samples(_days_of_samples(3))
    settings = _settings(tmp_path, telemetry_retention_days=1)
    now = T0 + timedelta(days=2, hours=6)
    first = maintain(store, settings, now=now, max_rollup_hours=10)  # rolled through 10:00 of day 0
    assert first.rollup_hours == 10 and first.dropped_days == []
    second = maintain(store, settings, now=now, max_rollup_hours=20)  # through day 1, 06:00
    assert second.dropped_days == [DAY0]
    assert len(rollups.hourly_rollups(store, start=T0, end=T0 + timedelta(days=1))) == 24 * 4


def test_rollup_retention_drops_hourly_and_six_hour_rollups_at_one_bucket_boundary(
    store: Store, tmp_path: Path
) -> None:
    from swen.store import rollups

    store.insert_samples(_days_of_samples(3))
    settings = _settings(tmp_path, telemetry_retention_days=30, telemetry_rollup_retention_days=1.5)
    now = T0 + timedelta(days=3, hours=1)
    report = maintain(store, settings, now=now, max_rollup_hours=None)
    keep_from = T0 + timedelta(days=1, hours=12)  # now - 1.5 days = day 1, 13:00: its 6-hour bucket
    assert report.rollups_purged == 24 * 4 + 12 * 4
    hours = rollups.hourly_rollups(store, start=T0, end=now)
    buckets = rollups.six_hour_rollups(store, start=T0, end=now)
    assert min(r.hour for r in hours) == keep_from == min(key[3] for key in buckets)
    assert sum(n for n, _ in buckets.values()) == sum(r.samples for r in hours)
