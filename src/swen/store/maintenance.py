"""The telemetry maintenance step: partitions ahead, rollups, retention with archives.

``maintain`` runs from the simulator/collector loop (once per simulated hour, ``telemetry/runner.py``)
and from ``swen maintenance run``. In order:

1. PostgreSQL: the day partitions from today to ``telemetry_partition_ahead_days`` ahead exist.
2. Closed hours are rolled up (``rollups.roll_up``, up to ``ROLLUP_HOURS_PER_PASS`` a pass; their
   6-hour buckets are rewritten in the same transactions), and no day is dropped before its hours are.
3. Retention, in whole UTC days: a day expires once its end is ``telemetry_retention_days`` behind
   ``now``. Each expired day is archived to Parquet (``archive.Archive``, unless ``archive_enabled`` is
   off), then dropped: on PostgreSQL its partition is locked against inserts, its rows are counted and,
   if the count is the archived one, DETACHed and DROPped in the same transaction; on SQLite the same
   check, then a bounded row delete (``telemetry_delete_batch`` rows per transaction). A count that
   differs (rows added meanwhile) stops with an error and drops nothing; the next run archives again.
4. ``telemetry_latest`` rows older than the retention go, and rollups (hourly and 6-hour, per provider)
   older than their own retention, at a 6-hour bucket boundary (``rollups.purge_rollups``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, delete, exists, func, select, text

from swen.config import Settings
from swen.domain.clock import utcnow
from swen.domain.errors import StoreError
from swen.store import partitions, rollups
from swen.store.db import write_transaction
from swen.store.errors import translated
from swen.store.repository import Store
from swen.store.tables import telemetry_latest, telemetry_samples

if TYPE_CHECKING:  # pyarrow and fsspec load only when a day is archived
    from swen.store.archive import Archive, ArchivedDay

_T = telemetry_samples.c
ROLLUP_HOURS_PER_PASS = 48
"""Hours rolled up per pass of the loop's maintenance (an upgraded month catches up in 15 passes)."""


@dataclass
class MaintenanceReport:
    partitions_created: list[date] = field(default_factory=list)
    rollup_hours: int = 0
    archived: list[ArchivedDay] = field(default_factory=list)
    dropped_days: list[date] = field(default_factory=list)
    deleted_rows: int = 0
    rollups_purged: int = 0


def archive_for(settings: Settings) -> Archive:
    from swen.store.archive import Archive

    return Archive(settings.resolved_archive_url, endpoint_url=settings.archive_endpoint_url)


def _partitioned(store: Store) -> bool:
    with store.reading("inspecting the telemetry table") as conn:
        return partitions.is_partitioned(conn)


def ensure_partitions_ahead(store: Store, today: date, ahead_days: int) -> list[date]:
    """PostgreSQL: partitions for today and ``ahead_days`` after it (none on SQLite)."""
    if not _partitioned(store):
        return []
    with (
        translated("creating telemetry partitions"),
        write_transaction(store.engine, pg_lock_key=None) as conn,
    ):
        return [p.day for p in partitions.ensure_ahead(conn, today, ahead_days)]


def _day_range(day: date) -> tuple[datetime, datetime]:
    return partitions.day_start(day), partitions.day_start(day + timedelta(days=1))


def _day_rows(conn: Connection, day: date) -> int:
    lo, hi = _day_range(day)
    return int(conn.execute(select(func.count()).where(_T.ts >= lo, _T.ts < hi)).scalar_one())


def expired_days(store: Store, cutoff: datetime) -> list[date]:
    """Days whose whole range is before ``cutoff``: PostgreSQL partitions (even empty ones), SQLite days
    that hold samples."""
    with store.reading("finding expired telemetry days") as conn:
        if partitions.is_partitioned(conn):
            return [p.day for p in partitions.list_partitions(conn) if p.end <= cutoff]
        first = conn.execute(select(func.min(_T.ts))).scalar()
        if first is None:
            return []
        day, out = partitions.day_of(rollups.as_utc(first)), []
        while partitions.day_start(day + timedelta(days=1)) <= cutoff:
            lo, hi = _day_range(day)
            if conn.execute(select(exists().where(_T.ts >= lo, _T.ts < hi))).scalar():
                out.append(day)
            day += timedelta(days=1)
        return out


def drop_day(store: Store, day: date, expected_rows: int | None, *, batch: int = 50_000) -> int:
    """Drop the day's samples if it still holds ``expected_rows`` (None: whatever it holds); returns
    how many rows went. PostgreSQL: DETACH + DROP of its partition; SQLite: bounded deletes."""
    with (
        translated(f"dropping telemetry of {day}"),
        write_transaction(store.engine, pg_lock_key=None) as conn,
    ):
        if partitions.is_partitioned(conn):
            part = partitions.Partition(day, partitions.partition_name(day))
            conn.execute(text(f"LOCK TABLE {part.name} IN SHARE MODE"))  # no insert until dropped
            rows = partitions.partition_rows(conn, part)
            _check_count(day, rows, expected_rows)
            partitions.drop_partition(conn, part)
            return rows
        rows = _day_rows(conn, day)
        _check_count(day, rows, expected_rows)
    lo, hi = _day_range(day)
    doomed = select(_T.id).where(_T.ts >= lo, _T.ts < hi).limit(batch).scalar_subquery()
    deleted = 0
    while deleted < rows:
        with (
            translated(f"deleting telemetry of {day}"),
            write_transaction(store.engine, pg_lock_key=None) as conn,
        ):
            n = int(conn.execute(delete(telemetry_samples).where(_T.id.in_(doomed))).rowcount or 0)
        if n == 0:
            break
        deleted += n
    return deleted


def _check_count(day: date, rows: int, expected: int | None) -> None:
    if expected is not None and rows != expected:
        raise StoreError(
            f"telemetry of {day} holds {rows} rows but {expected} were archived: not dropped",
            hint="samples were added to the day after it was archived; run `swen maintenance run` again",
        )


def archive_day(store: Store, archive: Archive, day: date) -> ArchivedDay:
    """Write the day's samples to the archive (skipped when a complete object is already there)."""
    from swen.store.archive import day_batches

    with store.reading(f"archiving telemetry of {day}") as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # count = rows read
        rows = _day_rows(conn, day)
        return archive.write_day(day, day_batches(conn, day), rows)


def purge_latest(store: Store, cutoff: datetime) -> None:
    """Drop ``telemetry_latest`` rows older than the retention (same lock order as the ingest)."""
    latest = telemetry_latest
    doomed = (
        select(latest.c.service)
        .where(latest.c.ts < cutoff)
        .order_by(latest.c.service, latest.c.provider, latest.c.region)
        .with_for_update()
    )
    with translated("purging the latest samples"), write_transaction(store.engine, pg_lock_key=None) as conn:
        conn.execute(doomed).all()
        conn.execute(delete(latest).where(latest.c.ts < cutoff))


def apply_retention(
    store: Store,
    settings: Settings,
    now: datetime,
    report: MaintenanceReport,
    *,
    rolled_through: datetime | None = None,
) -> None:
    """Archive and drop the expired days; never a day past ``rolled_through`` (its hours would be
    lost from the rollups)."""
    cutoff = now - timedelta(days=settings.telemetry_retention_days)
    if rolled_through is not None:
        cutoff = min(cutoff, rolled_through)
    days = expired_days(store, cutoff)
    archive = archive_for(settings) if settings.archive_enabled and days else None
    for day in days:
        expected = None
        if archive is not None:
            done = archive_day(store, archive, day)
            report.archived.append(done)
            expected = done.rows
        report.deleted_rows += drop_day(store, day, expected, batch=settings.telemetry_delete_batch)
        report.dropped_days.append(day)
    purge_latest(store, cutoff)


def maintain(
    store: Store,
    settings: Settings,
    *,
    now: datetime | None = None,
    max_rollup_hours: int | None = ROLLUP_HOURS_PER_PASS,
) -> MaintenanceReport:
    """One maintenance pass (see the module docstring); ``now`` defaults to the wall clock. At most
    ``max_rollup_hours`` hours are rolled up per pass (None: all), so the first pass after an upgrade
    does not hold the simulator's loop for minutes; retention waits for the roll-up to pass a day."""
    now = now or utcnow()
    report = MaintenanceReport()
    report.partitions_created = ensure_partitions_ahead(
        store, partitions.day_of(now), settings.telemetry_partition_ahead_days
    )
    rolled = rollups.roll_up(store, max_hours=max_rollup_hours, now=now)
    report.rollup_hours = rolled.hours
    apply_retention(store, settings, now, report, rolled_through=rolled.through)
    report.rollups_purged = rollups.purge_rollups(
        store, now - timedelta(days=settings.telemetry_rollup_retention_days)
    )
    return report
