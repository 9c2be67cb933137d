"""Telemetry archives: one Parquet object per UTC day of ``telemetry_samples``, on object storage
through fsspec (a local folder, ``file:///...``, by default; ``s3://bucket/prefix`` through s3fs).

Layout: ``<url>/telemetry/YYYY/MM/telemetry-YYYYMMDD.parquet``, one object per day, so archiving a day
again replaces its object instead of adding a second copy.

Writing is crash-safe: the rows stream into ``<object>.tmp`` (row groups of ``ROWS_PER_GROUP``), the
temporary object's row count is read back from its Parquet footer and checked, and only then is it
renamed to its final name (an atomic rename on a local disk, fsynced first; on S3 a server-side copy,
which makes the final object appear whole or not at all). The caller drops the day's rows only after
``archive_day`` returned the verified count, and checks that the day still holds exactly that many
rows in the transaction that drops them. A crash anywhere leaves either the rows in the database (and
at most a stale ``.tmp``, overwritten by the rerun) or a complete object: a rerun finds the object
with the right count and does not write it again.

Reading: on PostgreSQL the day comes through the ADBC PostgreSQL driver (``arrow_batches``: binary
COPY decoded into Arrow in C++) in the snapshot of the transaction that counted it; on SQLite through
a streamed SELECT (``row_batches``). Either way batches of ``ROWS_PER_GROUP`` rows, one row group each.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, select

from swen.domain.errors import StoreError
from swen.domain.models import TelemetrySample
from swen.store.partitions import day_start
from swen.store.tables import telemetry_samples

ROWS_PER_GROUP = 100_000
SCHEMA = pa.schema(
    [
        ("service", pa.string()),
        ("provider", pa.string()),
        ("region", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("instance_type", pa.string()),
        ("hourly_cost_usd", pa.float64()),
        ("latency_ms", pa.float64()),
        ("credits_usd", pa.float64()),
        ("gpu_availability", pa.float64()),
        ("availability", pa.float64()),
        ("error_rate", pa.float64()),
        ("simulated_price", pa.bool_()),
    ]
)
_COLUMNS = [telemetry_samples.c[name] for name in SCHEMA.names]


@dataclass(frozen=True, slots=True)
class ArchivedDay:
    day: date
    path: str
    rows: int
    written: bool
    """False when a complete object with the same row count was already there (a rerun)."""


def _storage_options(url: str, endpoint_url: str | None) -> dict[str, Any]:
    if url.startswith("s3://") and endpoint_url:
        return {"client_kwargs": {"endpoint_url": endpoint_url}}
    return {}


class Archive:
    """The archive at ``url`` (validated by ``config.ArchiveUrl``)."""

    def __init__(self, url: str, *, endpoint_url: str | None = None) -> None:
        self.url = url.rstrip("/")
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **_storage_options(url, endpoint_url))
        except (ImportError, ValueError) as exc:
            raise StoreError(
                f"cannot open the telemetry archive {self.url}: {exc}",
                hint="set SWEN_ARCHIVE_URL to file:///absolute/folder or s3://bucket/prefix",
            ) from exc
        self.root = self.root.rstrip("/")
        self._local = "file" in _protocols(self.fs)

    def path(self, day: date) -> str:
        return f"{self.root}/telemetry/{day:%Y}/{day:%m}/telemetry-{day:%Y%m%d}.parquet"

    def rows_in(self, day: date) -> int | None:
        """Rows of the day's archived object (from its footer), or None when there is none."""
        return self._rows_at(self.path(day))

    def _rows_at(self, path: str) -> int | None:
        try:
            if not self.fs.exists(path):
                return None
            with self.fs.open(path, "rb") as f:
                return int(pq.ParquetFile(f).metadata.num_rows)
        except (OSError, pa.ArrowInvalid) as exc:
            raise _archive_error(f"reading {path}", exc) from exc

    def write_day(self, day: date, batches: Iterable[pa.RecordBatch], expected_rows: int) -> ArchivedDay:
        """Write ``batches`` as the day's object (temp, verify, rename); returns what is there now."""
        final = self.path(day)
        if self._rows_at(final) == expected_rows:
            return ArchivedDay(day, final, expected_rows, written=False)
        tmp = final + ".tmp"
        try:
            if self._local:
                self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            written = 0
            with self.fs.open(tmp, "wb") as f:
                with pq.ParquetWriter(f, SCHEMA, compression="zstd") as writer:
                    for batch in batches:
                        writer.write_batch(batch, row_group_size=ROWS_PER_GROUP)
                        written += batch.num_rows
                if self._local:
                    f.flush()
                    os.fsync(f.fileno())
            stored = self._rows_at(tmp)
            if written != expected_rows or stored != expected_rows:
                self.fs.rm(tmp)
                raise StoreError(
                    f"archive of {day} is incomplete: {expected_rows} rows expected, {written} read, "
                    f"{stored} in the written object; nothing was dropped",
                    hint="run `swen maintenance run` again (rows may have been added to the day meanwhile)",
                )
            self.fs.mv(tmp, final)
        except (OSError, pa.ArrowException) as exc:
            raise _archive_error(f"writing {final}", exc) from exc
        if self._rows_at(final) != expected_rows:
            raise StoreError(
                f"archive of {day} at {final} does not hold {expected_rows} rows after the rename",
                hint="check the object store; nothing was dropped",
            )
        return ArchivedDay(day, final, expected_rows, written=True)

    def days(self) -> list[date]:
        """Every archived day, oldest first."""
        try:
            paths = self.fs.glob(f"{self.root}/telemetry/*/*/telemetry-*.parquet")
        except OSError as exc:
            raise _archive_error(f"listing {self.url}", exc) from exc
        out = []
        for p in paths:
            stem = str(p).rsplit("telemetry-", 1)[-1].removesuffix(".parquet")
            try:
                out.append(datetime.strptime(stem, "%Y%m%d").date())
            except ValueError:
                continue
        return sorted(out)

    def read(
        self,
        *,
        start: datetime,
        end: datetime,
        service: str | None = None,
        provider: str | None = None,
    ) -> list[TelemetrySample]:
        """Archived samples with ``start <= ts < end`` (optionally of one service/provider), in the order
        (ts, service, provider, region)."""
        filters: list[tuple[str, str, Any]] = [("ts", ">=", start), ("ts", "<", end)]
        if service is not None:
            filters.append(("service", "==", service))
        if provider is not None:
            filters.append(("provider", "==", provider))
        out: list[TelemetrySample] = []
        day = start.astimezone(UTC).date()
        while day_start(day) < end:
            path = self.path(day)
            try:
                if self.fs.exists(path):
                    table = pq.read_table(path, filesystem=self.fs, filters=filters, schema=SCHEMA)
                    out.extend(TelemetrySample(**row) for row in table.to_pylist())
            except (OSError, pa.ArrowException) as exc:
                raise _archive_error(f"reading {path}", exc) from exc
            day += timedelta(days=1)
        out.sort(key=lambda s: (s.ts, s.service, s.provider, s.region))
        return out


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _archive_error(what: str, exc: BaseException) -> StoreError:
    return StoreError(
        f"telemetry archive: {what} failed: {exc}",
        hint="check SWEN_ARCHIVE_URL, the folder's permissions or the bucket and its credentials "
        "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SWEN_ARCHIVE_ENDPOINT_URL)",
    )


def day_batches(
    conn: Connection, day: date, rows_per_batch: int = ROWS_PER_GROUP
) -> Iterator[pa.RecordBatch]:
    """The day's samples as Arrow record batches of ``rows_per_batch`` rows (the last one shorter),
    streamed from the database in the caller's transaction (its snapshot): on PostgreSQL through
    the ADBC driver (``arrow_batches``), elsewhere row by row (``row_batches``)."""
    if conn.dialect.name == "postgresql":
        return arrow_batches(conn, day, rows_per_batch)
    return row_batches(conn, day, rows_per_batch)


def row_batches(
    conn: Connection, day: date, rows_per_batch: int = ROWS_PER_GROUP
) -> Iterator[pa.RecordBatch]:
    """The day's samples through a streamed SELECT, converted to Arrow in Python (SQLite; on
    PostgreSQL the path before ``arrow_batches``, 5.7x slower there: docs/BENCHMARKS.md)."""
    lo, hi = day_start(day), day_start(day + timedelta(days=1))
    t = telemetry_samples.c
    stmt = select(*_COLUMNS).where(t.ts >= lo, t.ts < hi)
    result = conn.execution_options(stream_results=True, yield_per=rows_per_batch).execute(stmt)
    for chunk in result.partitions():
        columns = list(zip(*chunk, strict=True))
        yield pa.RecordBatch.from_arrays(
            [pa.array(col, type=field.type) for col, field in zip(columns, SCHEMA, strict=True)],
            schema=SCHEMA,
        )


def arrow_batches(
    conn: Connection, day: date, rows_per_batch: int = ROWS_PER_GROUP
) -> Iterator[pa.RecordBatch]:
    """PostgreSQL: the day's samples through the ADBC PostgreSQL driver (``COPY ... TO STDOUT`` in its
    binary format, decoded into Arrow in C++, no Python object per value), re-cut into batches of
    ``rows_per_batch`` rows. The driver opens its own connection and reads in the snapshot of the
    caller's transaction (``pg_export_snapshot`` / ``SET TRANSACTION SNAPSHOT``): it sees exactly the
    rows the caller counted when that transaction is REPEATABLE READ (``maintenance.archive_day``).
    Memory holds about two of the driver's batches (16 MB each by default) whatever the day's size."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
    url = conn.engine.url.set(drivername="postgresql").update_query_dict({"application_name": READER_NAME})
    uri = url.render_as_string(hide_password=False)
    lo, hi = day_start(day), day_start(day + timedelta(days=1))  # from a date: safe as literals
    query = (
        f"SELECT {', '.join(SCHEMA.names)} FROM telemetry_samples "
        f"WHERE ts >= '{lo.isoformat()}' AND ts < '{hi.isoformat()}'"
    )
    try:
        with adbc.connect(uri) as reader, reader.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(f"SET TRANSACTION SNAPSHOT '{_snapshot_id(snapshot)}'")
            cur.execute(query)
            yield from _rebatched(cur.fetch_record_batch(), rows_per_batch)
    except adbc_driver_manager.Error as exc:
        raise StoreError(
            f"reading the telemetry of {day} for its archive failed: {exc}",
            hint="check that the database is reachable with SWEN_DATABASE_URL; nothing was dropped",
        ) from exc


READER_NAME = "swen-archive"
"""``application_name`` of the archive's reading connection (how it shows in ``pg_stat_activity``)."""
_SNAPSHOT_RE = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")


def _snapshot_id(value: str) -> str:
    if not _SNAPSHOT_RE.match(value):  # it comes from the server; checked before it goes into SQL
        raise StoreError(f"unexpected snapshot id {value!r} from the database", hint="report this")
    return value


def _rebatched(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """``batches`` (any sizes) as batches of exactly ``rows`` rows (the last one shorter), in SCHEMA."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield _one_batch(table.slice(0, rows))
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield _one_batch(pa.Table.from_batches(pending))


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    """One record batch in SCHEMA (the driver's field metadata dropped) from a non-empty table."""
    return table.cast(SCHEMA).combine_chunks().to_batches()[0]
