"""Hourly telemetry rollups, and the 30-day views read from them.

``roll_up`` aggregates every closed hour of ``telemetry_samples`` into ``telemetry_rollups``: per
(service, provider, region, hour) the sample count, sums (cost, credits, latency, availability, error
rate, GPU availability), the nearest-rank p95 latency (the value at rank ceil(0.95 n), what
PostgreSQL's ``percentile_disc(0.95)`` gives) and the worst availability. It runs from the maintenance
step (``store/maintenance.py``); an hour is closed once the newest sample is ``CLOSE_GRACE`` past its
end. Rolling an hour again replaces its rows (delete + insert in one transaction), so a rerun after a
crash duplicates nothing. Samples that arrive for an hour after it was rolled up are not in it. On
PostgreSQL the aggregation runs a chunk of services per short transaction into a temporary table and
only the publishing is one transaction (``roll_hours``): no long snapshot holds back the pruning of
the rows the ticks update, and no reader sees a partial hour.

Each hour is also summed per provider (``telemetry_provider_rollups``: a few rows an hour), which the
credits burn-down reads, and the sample count and price sum of each (service, provider, region) per
6-hour bucket (00, 06, 12, 18 UTC: ``telemetry_rollups_6h``) are rewritten from the bucket's hourly
rows in the same transaction, so a bucket always equals the sum of its rolled-up hours (one still
filling holds those rolled up so far) and a rerun writes the same rows. A window on 6-hour buckets
(``bucket_aligned``) takes its whole buckets from there, a row per service and bucket (30 days at
10,000 services: 1.2 million rows instead of 7.2 million hourly ones grouped per service), on
PostgreSQL each running place's through the primary key (a LATERAL subquery per place).

The reads (``spend_by_provider``, ``credits_by_provider``) give the same series as the raw reads of
``store/history.py``. When the window starts on an hour and its step is a whole number of hours, the
hours already rolled up come from the rollups, the rest (the open hour, or everything before the first
roll-up) from raw samples, and both parts are merged as sums and counts, so every mean is exact; any
other window is read from raw samples. The running places are joined, never put in a row-value IN
(PostgreSQL JIT-compiled the 200-place IN of the raw read for minutes): on PostgreSQL from an ANALYZEd
temporary table, all services in one statement grouped by integer keys (3.3x faster than chunks of a
VALUES list at 10,000 services: docs/BENCHMARKS.md); on SQLite from a VALUES list per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Integer,
    Interval,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    select,
    text,
    true,
    type_coerce,
    union_all,
    values,
)

from swen.domain.models import HOURS_PER_MONTH, Placement
from swen.store.db import insert_rows, write_transaction
from swen.store.errors import translated
from swen.store.repository import Store
from swen.store.tables import (
    UtcDateTime,
    telemetry_provider_rollups,
    telemetry_rollups,
    telemetry_rollups_6h,
    telemetry_samples,
)

HOUR = timedelta(hours=1)
BUCKET = timedelta(hours=6)
"""Width of ``telemetry_rollups_6h``'s buckets, which start at 00, 06, 12 and 18 UTC."""
BUCKET_S = 6 * 3600
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
CLOSE_GRACE = timedelta(minutes=5)
"""An hour is rolled up once the newest sample is this far past its end (late writers of the hour)."""
HOURS_PER_TRANSACTION = 6
SPEND_WORK_MEM = "256MB"
"""PostgreSQL ``work_mem`` for the spend read only (``SET LOCAL``: this transaction): its grouping of a
month of hourly rollups per service and bucket stays in memory (a 254 MB hash at 10,000 services and
6-hour buckets, within hash nodes' ``hash_mem_multiplier`` x work_mem, 512 MB by default)."""
SERVICES_PER_QUERY = 5000
"""Services per spend query on SQLite (4 bound values each: within SQLite's limit)."""

_T = telemetry_samples.c
_R = telemetry_rollups.c
_P = telemetry_provider_rollups.c
_C = telemetry_rollups_6h.c
Series = dict[str, list[tuple[datetime, float]]]


def floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def floor_bucket(ts: datetime) -> datetime:
    """The start of the 6-hour bucket ``ts`` falls in (00, 06, 12 or 18 UTC)."""
    hour = floor_hour(ts)
    return hour.replace(hour=hour.hour - hour.hour % 6)


def ceil_bucket(ts: datetime) -> datetime:
    start = floor_bucket(ts)
    return start if start == ts else start + BUCKET


def aligned(start: datetime, step_s: int) -> bool:
    """Whether a window can be read from the rollups exactly: it starts on an hour, whole-hour steps."""
    return step_s % 3600 == 0 and start == floor_hour(start)


def bucket_aligned(start: datetime, step_s: int) -> bool:
    """Whether a window can take whole 6-hour buckets from ``telemetry_rollups_6h``: it starts on a
    bucket (00, 06, 12 or 18 UTC) and its step is a whole number of buckets."""
    return step_s % BUCKET_S == 0 and start == floor_bucket(start)


# --- writing ---------------------------------------------------------------------------------------


def _hour_of(conn: Connection, column: Any) -> ColumnElement[Any]:
    """The UTC hour a timestamp column falls in, in the column's own storage form."""
    if conn.dialect.name == "postgresql":
        return type_coerce(func.date_trunc("hour", column, "UTC"), UtcDateTime)
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): keep the hour, zero the rest
    return type_coerce(func.substr(column, 1, 13).concat(":00:00.000000"), UtcDateTime)


def _rollup_select(conn: Connection, lo: datetime, hi: datetime) -> Select[Any]:
    hour = _hour_of(conn, _T.ts)
    group = (_T.service, _T.provider, _T.region, hour)
    ranked = (
        select(
            _T.service, _T.provider, _T.region, hour.label("hour"), _T.instance_type,
            _T.hourly_cost_usd, _T.credits_usd, _T.latency_ms, _T.availability, _T.error_rate,
            _T.gpu_availability, cast(_T.simulated_price, Integer).label("simulated"),
            func.row_number().over(partition_by=group, order_by=_T.latency_ms).label("rn"),
            func.count().over(partition_by=group).label("n"),
        )
        .where(_T.ts >= lo, _T.ts < hi)
        .subquery()
    )  # fmt: skip
    r = ranked.c
    p95_rank = (r.n * 95 + 99) // 100  # ceil(0.95 n) in integers
    return select(
        r.service, r.provider, r.region, r.hour,
        func.count(), func.max(r.instance_type), func.sum(r.hourly_cost_usd), func.sum(r.credits_usd),
        func.sum(r.latency_ms), func.max(case((r.rn == p95_rank, r.latency_ms))),
        func.sum(r.availability), func.min(r.availability), func.sum(r.error_rate),
        func.sum(r.gpu_availability), func.max(r.simulated) > 0,
    ).group_by(r.service, r.provider, r.region, r.hour)  # fmt: skip


_ROLLUP_COLUMNS = [
    "service", "provider", "region", "hour", "samples", "instance_type", "hourly_cost_sum",
    "credits_sum", "latency_sum", "latency_p95", "availability_sum", "availability_min",
    "error_rate_sum", "gpu_availability_sum", "simulated_price",
]  # fmt: skip

ROLLUP_WORK_MEM = "256MB"
"""PostgreSQL ``work_mem`` for the roll-up's transaction only (``SET LOCAL``): the hash of an hour's
groups with their latencies stays in memory up to ``hash_mem_multiplier`` x this (512 MB by default),
the rest spills in batches (10,000 services: 110,000 groups, ~2.6 KB each at 72 samples an hour
measured, so ~1.2 GB at the 720 of a full hour: about half of it spills)."""

# PostgreSQL: one pass over the hour's rows (the ``ts`` index range), hashed per (service, place,
# hour) with every sum and the hour's latencies as an array; the p95 is then taken from each group's
# array (its ``n - rank + 1``-th largest value, a bounded top-N sort of 720 values), never by sorting
# the hour's 79 million rows (the window-function statement of ``_rollup_select``: an external sort of
# every row by three text keys and the latency; twice the server CPU at 10,000 services, 3x the time
# in psql: docs/BENCHMARKS.md, scale10k). Sums may add in another order than the sorted statement's:
# equal within float rounding.
_ROLLUP_POSTGRESQL_SQL = """
    INSERT INTO {table} (service, provider, region, hour, samples, instance_type,
        hourly_cost_sum, credits_sum, latency_sum, latency_p95, availability_sum, availability_min,
        error_rate_sum, gpu_availability_sum, simulated_price)
    SELECT g.service, g.provider, g.region, g.hour, g.n, g.instance_type, g.cost, g.credits,
        g.latency, (SELECT x FROM unnest(g.latencies) AS x ORDER BY x DESC
                    OFFSET g.n - (g.n * 95 + 99) / 100 LIMIT 1),
        g.availability, g.availability_min, g.error_rate, g.gpu, g.simulated
    FROM (
        SELECT service, provider, region, date_trunc('hour', ts, 'UTC') AS hour, count(*) AS n,
            max(instance_type) AS instance_type, sum(hourly_cost_usd) AS cost,
            sum(credits_usd) AS credits, sum(latency_ms) AS latency,
            array_agg(latency_ms) AS latencies, sum(availability) AS availability,
            min(availability) AS availability_min, sum(error_rate) AS error_rate,
            sum(gpu_availability) AS gpu, bool_or(simulated_price) AS simulated
        FROM telemetry_samples
        WHERE ts >= :lo AND ts < :hi{services}
        GROUP BY service, provider, region, date_trunc('hour', ts, 'UTC')
    ) AS g
    """
_ROLLUP_POSTGRESQL = text(_ROLLUP_POSTGRESQL_SQL.format(table="telemetry_rollups", services=""))


def _insert_rollups(conn: Connection, lo: datetime, hi: datetime) -> None:
    """Write the rollups of the hours in ``[lo, hi)`` (their rows deleted before) in the caller's
    transaction."""
    if conn.dialect.name == "postgresql":
        _hashed_settings(conn)
        hour = lo
        while hour < hi:  # a statement per hour: one hour's groups in the hash (a catch-up passes 6)
            conn.execute(_ROLLUP_POSTGRESQL, {"lo": hour, "hi": min(hi, hour + HOUR)})
            hour += HOUR
        for name in ("enable_sort", "jit", "work_mem"):  # the rest of the transaction plans as usual
            conn.exec_driver_sql(f"SET LOCAL {name} TO DEFAULT")
        return
    conn.execute(telemetry_rollups.insert().from_select(_ROLLUP_COLUMNS, _rollup_select(conn, lo, hi)))


def rolled_through(conn: Connection) -> datetime | None:
    """End of the rolled-up hours (every hour before it is rolled up); None before the first roll-up."""
    newest = conn.execute(select(func.max(_R.hour))).scalar()
    if newest is None:
        return None
    return as_utc(newest) + HOUR


def as_utc(value: Any) -> datetime:
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _hashed_settings(conn: Connection) -> None:
    """PostgreSQL, for the rest of the caller's transaction: the roll-up statement hashed, not sorted
    (the planner overestimates the groups from three text keys and would sort), with no JIT for a
    statement whose estimated cost the disabled sort inflates."""
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{ROLLUP_WORK_MEM}'")
    conn.exec_driver_sql("SET LOCAL enable_sort = off")
    conn.exec_driver_sql("SET LOCAL jit = off")


SERVICES_PER_CHUNK = 250
"""PostgreSQL: services per roll-up transaction (``roll_hours``). At 10,000 services an hour is 40
chunks of ~2 million samples, each its own short statement and transaction; 0 rolls the hours in one
statement per hour inside the one transaction that publishes them (what SQLite does)."""

_STAGE = "swen_rollup_stage"
"""PostgreSQL: the session's temporary table the chunks are written to (never WAL-logged, seen by no
other session, gone with the session), moved into ``telemetry_rollups`` when the hours are published."""


def roll_hours(
    store: Store,
    lo: datetime,
    hi: datetime,
    *,
    services_per_chunk: int | None = None,
    after_chunk: Callable[[int], None] | None = None,
) -> int:
    """(Re)write the rollups of the hours in ``[lo, hi)`` (hour-aligned); returns how many rollup rows
    it wrote. Every reader sees the hours appear at once: their hourly, per-provider and 6-hour rows
    (and so ``rolled_through``) are published in one transaction, never a partial hour.

    On PostgreSQL the hours are first aggregated ``services_per_chunk`` services (default
    ``SERVICES_PER_CHUNK``) at a time, each chunk its own short transaction into a temporary table of
    this session, then published from it in one short transaction. A long transaction would hold back
    the xmin horizon for the whole roll-up (minutes at 10,000 services), so the old row versions the
    ticks leave in ``telemetry_latest`` every 5 s could not be pruned and the ticks slowed
    (docs/BENCHMARKS.md, scale10k and rollchunk). A crash or an error before the publishing commit
    leaves the rollups as they were (the temporary table dies with the session or is dropped by the
    next roll-up), so a rerun writes the same rows. ``after_chunk(n)`` is called after the n-th chunk
    committed (tests interrupt the roll-up there). SQLite rolls the hours in the one transaction."""
    per_chunk = SERVICES_PER_CHUNK if services_per_chunk is None else services_per_chunk
    if store.engine.dialect.name == "postgresql" and per_chunk > 0:
        return _roll_hours_chunked(store, lo, hi, per_chunk, after_chunk)
    with translated("rolling up telemetry"), write_transaction(store.engine, pg_lock_key=None) as conn:
        _delete_hours(conn, lo, hi)
        _insert_rollups(conn, lo, hi)
        return _publish(conn, lo, hi)


def _delete_hours(conn: Connection, lo: datetime, hi: datetime) -> None:
    conn.execute(delete(telemetry_rollups).where(_R.hour >= lo, _R.hour < hi))
    conn.execute(delete(telemetry_provider_rollups).where(_P.hour >= lo, _P.hour < hi))


def _publish(conn: Connection, lo: datetime, hi: datetime) -> int:
    """With the hourly rollups of ``[lo, hi)`` written in the caller's transaction: their per-provider
    rows and their 6-hour buckets; returns the hourly rows."""
    written = select(func.count()).where(_R.hour >= lo, _R.hour < hi)  # psycopg: no rowcount here
    rows = int(conn.execute(written).scalar_one())
    per_provider = (
        select(
            _R.provider,
            _R.hour,
            func.sum(_R.samples),
            func.sum(_R.hourly_cost_sum),
            func.sum(_R.credits_sum),
        )
        .where(_R.hour >= lo, _R.hour < hi)
        .group_by(_R.provider, _R.hour)
    )
    columns = ["provider", "hour", "samples", "hourly_cost_sum", "credits_sum"]
    conn.execute(telemetry_provider_rollups.insert().from_select(columns, per_provider))
    _rewrite_buckets(conn, floor_bucket(lo), ceil_bucket(hi))
    return rows


def _service_bounds(conn: Connection, per_chunk: int) -> list[str]:
    """Every ``per_chunk``-th service name known (``telemetry_latest``, in the database's order): the
    chunks are ``[None, b1), [b1, b2), ..., [bk, None)``, which cover every name whatever services the
    hours hold (the bounds only balance the chunks)."""
    names = conn.execute(text("SELECT DISTINCT service FROM telemetry_latest ORDER BY service")).scalars()
    return list(names)[per_chunk::per_chunk]


def _chunk_statement(first: str | None, last: str | None) -> Any:
    services = ("" if first is None else " AND service >= :first") + (
        "" if last is None else " AND service < :last"
    )
    return text(_ROLLUP_POSTGRESQL_SQL.format(table=_STAGE, services=services))


def _roll_hours_chunked(
    store: Store, lo: datetime, hi: datetime, per_chunk: int, after_chunk: Callable[[int], None] | None
) -> int:
    with translated("rolling up telemetry"), store.engine.connect() as conn:
        with conn.begin():
            # made afresh (what an interrupted roll-up left on this pooled session goes, and the columns
            # are those of telemetry_rollups now); ON COMMIT PRESERVE ROWS, the default: the chunks'
            # rows outlive their transactions
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{_STAGE}")
            conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {_STAGE} (LIKE telemetry_rollups)")
            bounds = _service_bounds(conn, per_chunk)
        chunks = [  # each chunk's statement and its bounds, built once for every hour
            (
                _chunk_statement(first, last),
                {k: v for k, v in (("first", first), ("last", last)) if v is not None},
            )
            for first, last in zip([None, *bounds], [*bounds, None], strict=True)
        ]
        done = 0
        hour = lo
        while hour < hi:
            for statement, bounds_of_chunk in chunks:
                with conn.begin():
                    _hashed_settings(conn)
                    conn.execute(statement, {"lo": hour, "hi": min(hi, hour + HOUR), **bounds_of_chunk})
                done += 1
                if after_chunk is not None:
                    after_chunk(done)
            hour += HOUR
        with conn.begin():  # publish: short, and all of it or nothing
            _delete_hours(conn, lo, hi)
            names = ", ".join(_ROLLUP_COLUMNS)
            conn.exec_driver_sql(f"INSERT INTO telemetry_rollups ({names}) SELECT {names} FROM {_STAGE}")
            conn.exec_driver_sql(f"DROP TABLE pg_temp.{_STAGE}")
            return _publish(conn, lo, hi)


def _bucket_of(conn: Connection, column: Any) -> ColumnElement[Any]:
    """The 6-hour bucket an hour column falls in, in the column's own storage form."""
    if conn.dialect.name == "postgresql":
        return type_coerce(
            func.date_bin(literal(BUCKET, Interval), column, literal(_EPOCH, UtcDateTime)), UtcDateTime
        )
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): the day, the hour rounded down to 0/6/12/18
    hour = cast(func.substr(column, 12, 2), Integer)
    return type_coerce(
        func.substr(column, 1, 11).concat(func.printf("%02d", hour // 6 * 6)).concat(":00:00.000000"),
        UtcDateTime,
    )


def _rewrite_buckets(conn: Connection, lo: datetime, hi: datetime) -> None:
    """(Re)write the 6-hour rollups of the buckets in ``[lo, hi)`` (bucket-aligned) as the sums of
    their hourly rollups, in the caller's transaction: every transaction that changes hourly rollups
    leaves each bucket equal to the sum of its hours (a bucket whose hours are partly rolled up holds
    those hours)."""
    conn.execute(delete(telemetry_rollups_6h).where(_C.bucket >= lo, _C.bucket < hi))
    hours = (
        select(
            _R.service, _R.provider, _R.region, _bucket_of(conn, _R.hour).label("bucket"),
            _R.samples, _R.hourly_cost_sum,
        )
        .where(_R.hour >= lo, _R.hour < hi)
        .subquery("hours")
    )  # fmt: skip
    h = hours.c
    per_bucket = select(
        h.service, h.provider, h.region, h.bucket, func.sum(h.samples), func.sum(h.hourly_cost_sum)
    ).group_by(h.service, h.provider, h.region, h.bucket)
    columns = ["service", "provider", "region", "bucket", "samples", "hourly_cost_sum"]
    conn.execute(telemetry_rollups_6h.insert().from_select(columns, per_bucket))


@dataclass(frozen=True, slots=True)
class RollupRun:
    hours: int
    rows: int
    through: datetime | None


def roll_up(store: Store, *, max_hours: int | None = None, now: datetime | None = None) -> RollupRun:
    """Roll up every closed hour not rolled up yet (at most ``max_hours`` of them), oldest first. An
    hour is closed once the newest sample, or ``now`` if later (telemetry that stopped), is
    ``CLOSE_GRACE`` past its end."""
    with store.reading("reading the rollup position") as conn:
        start = rolled_through(conn)
        if start is None:
            first = conn.execute(select(func.min(_T.ts))).scalar()
            start = floor_hour(as_utc(first)) if first is not None else None
    newest = store.newest_sample_time()
    if start is None or newest is None:
        return RollupRun(0, 0, start)
    end = floor_hour(max(newest, now or newest) - CLOSE_GRACE)
    if max_hours is not None:
        end = min(end, start + max_hours * HOUR)
    hours = rows = 0
    lo = start
    while lo < end:
        hi = min(end, lo + HOURS_PER_TRANSACTION * HOUR)
        rows += roll_hours(store, lo, hi)
        hours += int((hi - lo) / HOUR)
        lo = hi
    return RollupRun(hours, rows, max(start, end))


def purge_rollups(store: Store, older_than: datetime) -> int:
    """Delete rollups of hours before ``older_than`` (their own, longer retention), rounded down to a
    6-hour bucket so that the hourly and 6-hour rollups cover the same hours; returns the hourly rows
    deleted."""
    cutoff = floor_bucket(older_than)
    with translated("purging rollups"), write_transaction(store.engine, pg_lock_key=None) as conn:
        conn.execute(delete(telemetry_provider_rollups).where(_P.hour < cutoff))
        conn.execute(delete(telemetry_rollups_6h).where(_C.bucket < cutoff))
        result = conn.execute(delete(telemetry_rollups).where(_R.hour < cutoff))
    return int(result.rowcount or 0)


# --- reading ---------------------------------------------------------------------------------------


def _epoch(conn: Connection, column: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return func.extract("epoch", column)
    return func.round((func.julianday(column) - 2440587.5) * 86400.0, 3)


def _bucket(conn: Connection, column: Any, start: datetime, step_s: int) -> ColumnElement[Any]:
    """Index of the ``step_s``-wide bucket from ``start`` (the rows read are all at or after it)."""
    offset = _epoch(conn, column) - start.timestamp()
    return (
        cast(func.floor(offset / step_s), BigInteger)
        if conn.dialect.name == "postgresql"
        else (cast(offset / step_s, Integer))
    )


@dataclass
class _Sums:
    n: int = 0
    total: float = 0.0

    def add(self, n: Any, total: Any) -> None:
        self.n += int(n or 0)
        self.total += float(total or 0.0)

    @property
    def mean(self) -> float:
        return self.total / self.n


def _split(conn: Connection, start: datetime, end: datetime, step_s: int) -> datetime:
    """Where raw samples take over from the rollups: the end of the rolled-up hours, within the window;
    ``start`` (raw samples only) when the window is not ``aligned``."""
    if not aligned(start, step_s):
        return start
    through = rolled_through(conn)
    return start if through is None else max(start, min(end, through))


def _bucket_start(start: datetime, bucket: Any, step_s: int) -> datetime:
    return datetime.fromtimestamp(start.timestamp() + int(bucket) * step_s, UTC)


def credits_by_provider(store: Store, *, start: datetime, end: datetime, step_s: int) -> Series:
    """Mean credit balance per provider and bucket (as ``history.credits_by_provider``), from the
    rollups where they exist when the window is ``aligned`` (else from raw samples)."""
    sums: dict[tuple[str, int], _Sums] = {}
    with store.reading("reading credit balances") as conn:
        split = _split(conn, start, end, step_s)
        b_p = _bucket(conn, _P.hour, start, step_s).label("b")
        rolled = (
            select(_P.provider, b_p, func.sum(_P.samples), func.sum(_P.credits_sum))
            .where(_P.hour >= start, _P.hour < split)
            .group_by(_P.provider, b_p)
        )
        b_t = _bucket(conn, _T.ts, start, step_s).label("b")
        raw = (
            select(_T.provider, b_t, func.count(), func.sum(_T.credits_usd))
            .where(_T.ts >= split, _T.ts < end)
            .group_by(_T.provider, b_t)
        )
        for stmt in (rolled, raw):
            for provider, b, n, total in conn.execute(stmt):
                sums.setdefault((str(provider), int(b)), _Sums()).add(n, total)
    out: Series = {}
    for (provider, b), s in sorted(sums.items()):
        if s.n:
            out.setdefault(provider, []).append((_bucket_start(start, b, step_s), s.mean))
    return out


def spend_by_provider(
    store: Store,
    *,
    start: datetime,
    end: datetime,
    step_s: int,
    running: Mapping[str, tuple[Placement, int]],
) -> Series:
    """Monthly spend rate per provider and bucket (as ``history.spend_by_provider``): for each service
    where it runs, the mean hourly price in the bucket x 730 x replicas, summed over the services.

    A ``bucket_aligned`` window takes its whole 6-hour buckets from ``telemetry_rollups_6h`` (a row per
    service and bucket), the rolled-up hours of the bucket that is still filling from the hourly
    rollups, and the rest from raw samples."""
    places = [(name, p.provider, p.region, replicas) for name, (p, replicas) in running.items()]
    with store.reading("reading spend per provider") as conn:
        split = _split(conn, start, end, step_s)
        parts = _Parts(start, _coarse_end(start, split, step_s), split, end, step_s)
        if conn.dialect.name == "postgresql":
            totals = _spend_postgresql(conn, places, parts)
        else:
            totals = _spend_chunked(conn, places, parts)
    out: Series = {}
    for (provider, b), usd in sorted(totals.items()):
        out.setdefault(provider, []).append((_bucket_start(start, b, step_s), usd * HOURS_PER_MONTH))
    return out


@dataclass(frozen=True, slots=True)
class _Parts:
    """Where a window is read from: ``[start, coarse)`` 6-hour rollups, ``[coarse, split)`` hourly
    rollups, ``[split, end)`` raw samples."""

    start: datetime
    coarse: datetime
    split: datetime
    end: datetime
    step_s: int

    @property
    def per_row(self) -> bool:
        """A 6-hour rollup row is one (service, bucket) of the series: nothing to group per service."""
        return self.step_s == BUCKET_S


def _coarse_end(start: datetime, split: datetime, step_s: int) -> datetime:
    """End of the whole 6-hour buckets a window can take from ``telemetry_rollups_6h``: the last bucket
    start at or before ``split`` (every hour before ``split`` is rolled up); ``start`` when the window
    is not ``bucket_aligned``."""
    if not bucket_aligned(start, step_s) or split <= start:
        return start
    return max(start, floor_bucket(split))


_Place = tuple[str, str, str, int]


def _spend_postgresql(conn: Connection, places: list[_Place], w: _Parts) -> dict[tuple[str, int], float]:
    """Hourly spend per (provider, bucket) in one statement: the places in a temporary table (ANALYZEd,
    so the planner hash-joins the rollups to it), grouped by integer keys (the place's number, its
    provider's number and ``date_bin``'s bucket start) instead of text and float arithmetic. Rows of
    ``telemetry_rollups_6h`` at a 6-hour step are each one service's bucket already: priced per row,
    only the bucket still filling is grouped per service."""
    # the hourly part (older windows at smaller steps) is grouped per service: in memory, not in temp files
    conn.exec_driver_sql(f"SET LOCAL work_mem = '{SPEND_WORK_MEM}'")
    providers = sorted({p for _, p, _, _ in places})
    number = {p: i for i, p in enumerate(providers)}
    table = Table(
        "spend_places", MetaData(),
        Column("i", Integer), Column("s", String), Column("p", String), Column("r", String),
        Column("k", Integer), Column("pi", Integer),
        prefixes=["TEMPORARY"], postgresql_on_commit="DROP",
    )  # fmt: skip
    table.create(conn)
    if places:
        rows = [
            {"i": i, "s": s, "p": p, "r": r, "k": k, "pi": number[p]} for i, (s, p, r, k) in enumerate(places)
        ]
        insert_rows(conn, table, rows)  # one statement of arrays, not 10,000 inserts
    conn.exec_driver_sql("ANALYZE spend_places")
    pl = table.c
    stride = literal(timedelta(seconds=w.step_s), Interval)
    origin = literal(w.start, UtcDateTime)
    # each running place's buckets through the primary key (a LATERAL subquery: a nested loop of index
    # scans), never a scan of every place's buckets: the table holds 11 places a service, the read
    # wants one (10,000 services, 30 days: 1.2 of 13.2 million rows; hash-joining the scan took 7-9 s
    # against 2.9-3.2 s at load 12, docs/BENCHMARKS.md)
    per_place = (
        select(_C.bucket, _C.samples, _C.hourly_cost_sum)
        .where(
            _C.service == pl.s, _C.provider == pl.p, _C.region == pl.r,
            _C.bucket >= w.start, _C.bucket < w.coarse,
        )
        .offset(0)  # kept a subquery: pulled up into the join, it was hash-joined again
        .lateral("buckets")
    )  # fmt: skip
    c6 = per_place.c
    coarse_b = func.date_bin(stride, c6.bucket, origin).label("b")
    on_r = and_(_R.service == pl.s, _R.provider == pl.p, _R.region == pl.r)
    rolled = (
        select(
            pl.i, pl.pi, pl.k, func.date_bin(stride, _R.hour, origin).label("b"),
            _R.samples.label("n"), _R.hourly_cost_sum.label("c"),
        )
        .select_from(telemetry_rollups.join(table, on_r))
        .where(_R.hour >= w.coarse, _R.hour < w.split)
    )  # fmt: skip
    on_t = and_(_T.service == pl.s, _T.provider == pl.p, _T.region == pl.r)
    raw = (
        select(
            pl.i, pl.pi, pl.k, func.date_bin(stride, _T.ts, origin).label("b"),
            literal(1, Integer).label("n"), _T.hourly_cost_usd.label("c"),
        )
        .select_from(telemetry_samples.join(table, on_t))
        .where(_T.ts >= w.split, _T.ts < w.end)
    )  # fmt: skip
    grouped: list[Select[Any]] = [rolled, raw]
    priced: list[Select[Any]] = []
    if w.coarse > w.start:
        join_c = table.join(per_place, true())
        if w.per_row:
            usd = (c6.hourly_cost_sum / c6.samples * pl.k).label("usd")
            priced.append(select(pl.pi, coarse_b, usd).select_from(join_c))
        else:
            coarse = select(pl.i, pl.pi, pl.k, coarse_b, c6.samples.label("n"), c6.hourly_cost_sum.label("c"))
            grouped.append(coarse.select_from(join_c))
    both = union_all(*grouped).subquery("both")
    # each service's mean price in each bucket (its rolled-up and raw hours merged by sums) x replicas
    per_service = (
        select(
            both.c.pi, both.c.b, (func.sum(both.c.c) / func.sum(both.c.n) * func.max(both.c.k)).label("usd")
        )
        .group_by(both.c.i, both.c.pi, both.c.b)
        .having(func.sum(both.c.n) > 0)
    )
    every = union_all(per_service, *priced).subquery("every")
    stmt = select(every.c.pi, every.c.b, func.sum(every.c.usd)).group_by(every.c.pi, every.c.b)
    totals: dict[tuple[str, int], float] = {}
    for pi, b, usd in conn.execute(stmt):
        bucket = int((as_utc(b) - w.start).total_seconds()) // w.step_s
        totals[(providers[pi], bucket)] = float(usd)
    return totals


def _part(
    conn: Connection,
    places: Any,
    w: _Parts,
    table: Table,
    ts: Any,
    n: Any,
    cost: Any,
    lo: datetime,
    hi: datetime,
) -> Select[Any]:
    """One source of the chunked spend read (6-hour rollups, hourly rollups or raw samples): its sample
    count ``n`` and cost sum per (service, provider, bucket) over ``lo <= ts < hi``, joined to the
    chunk's ``places``."""
    t = table.c
    b = _bucket(conn, ts, w.start, w.step_s).label("b")
    on = and_(t.service == places.c.s, t.provider == places.c.p, t.region == places.c.r)
    return (
        select(t.service.label("s"), t.provider.label("p"), b, n.label("n"), cost.label("c"))
        .select_from(table.join(places, on))
        .where(ts >= lo, ts < hi)
        .group_by(t.service, t.provider, b)
    )


def _spend_chunked(conn: Connection, places: list[_Place], w: _Parts) -> dict[tuple[str, int], float]:
    """Hourly spend per (provider, bucket), ``SERVICES_PER_QUERY`` places a query (SQLite)."""
    totals: dict[tuple[str, int], float] = {}
    for i in range(0, len(places), SERVICES_PER_QUERY):
        chunk = places[i : i + SERVICES_PER_QUERY]
        # a join on the places, not a row-value IN: SQLite then walks the rollups' primary key per
        # place (with the IN it scanned the hour index: 2.0 s against 1.0 s), and PostgreSQL does
        # not JIT-compile a 200-way OR (the raw read with the IN spent minutes in LLVM here)
        where_ = (
            values(
                column("s", String), column("p", String), column("r", String), column("k", Integer),
                name="places",
            )
            .data(chunk)
            .cte("places")
        )  # fmt: skip
        parts = (
            (
                telemetry_rollups_6h,
                _C.bucket,
                func.sum(_C.samples),
                func.sum(_C.hourly_cost_sum),
                w.start,
                w.coarse,
            ),
            (
                telemetry_rollups,
                _R.hour,
                func.sum(_R.samples),
                func.sum(_R.hourly_cost_sum),
                w.coarse,
                w.split,
            ),
            (telemetry_samples, _T.ts, func.count(), func.sum(_T.hourly_cost_usd), w.split, w.end),
        )
        # the mean price of each service in each bucket (its 6-hour, hourly and raw parts merged by
        # their sums) x its replicas, summed per provider in the database: a row per provider and
        # bucket comes back instead of one per service and bucket (900,000 at 10,000 services)
        both = union_all(*(_part(conn, where_, w, *part) for part in parts)).subquery("both")
        per_service = (
            select(
                both.c.p,
                both.c.b,
                (func.sum(both.c.c) / func.sum(both.c.n) * func.max(where_.c.k)).label("usd"),
            )
            .select_from(both.join(where_, both.c.s == where_.c.s))
            .group_by(both.c.s, both.c.p, both.c.b)
            .having(func.sum(both.c.n) > 0)
            .subquery("per_service")
        )
        stmt = select(per_service.c.p, per_service.c.b, func.sum(per_service.c.usd)).group_by(
            per_service.c.p, per_service.c.b
        )
        for provider, b, usd in conn.execute(stmt):
            key = (str(provider), int(b))
            totals[key] = totals.get(key, 0.0) + float(usd)
    return totals


@dataclass(frozen=True, slots=True)
class HourlyRollup:
    """One (service, provider, region, hour) of ``telemetry_rollups``, as means."""

    service: str
    provider: str
    region: str
    hour: datetime
    samples: int
    hourly_cost_usd: float
    credits_usd: float
    latency_ms: float
    latency_p95_ms: float
    availability: float
    availability_min: float
    error_rate: float
    gpu_availability: float
    simulated_price: bool


def hourly_rollups(
    store: Store, *, start: datetime, end: datetime, service: str | None = None
) -> list[HourlyRollup]:
    """The rollups of the hours in ``[start, end)``, by service, provider, region, hour."""
    stmt = select(telemetry_rollups).where(_R.hour >= start, _R.hour < end)
    if service is not None:
        stmt = stmt.where(_R.service == service)
    stmt = stmt.order_by(_R.service, _R.provider, _R.region, _R.hour)
    with store.reading("reading hourly rollups") as conn:
        rows = conn.execute(stmt).all()
    return [
        HourlyRollup(
            service=r.service,
            provider=r.provider,
            region=r.region,
            hour=r.hour,
            samples=r.samples,
            hourly_cost_usd=r.hourly_cost_sum / r.samples,
            credits_usd=r.credits_sum / r.samples,
            latency_ms=r.latency_sum / r.samples,
            latency_p95_ms=r.latency_p95,
            availability=r.availability_sum / r.samples,
            availability_min=r.availability_min,
            error_rate=r.error_rate_sum / r.samples,
            gpu_availability=r.gpu_availability_sum / r.samples,
            simulated_price=bool(r.simulated_price),
        )
        for r in rows
    ]


def six_hour_rollups(
    store: Store, *, start: datetime, end: datetime
) -> dict[tuple[str, str, str, datetime], tuple[int, float]]:
    """The 6-hour rollups of the buckets in ``[start, end)``: (service, provider, region, bucket) ->
    (samples, sum of the hourly price)."""
    stmt = select(_C.service, _C.provider, _C.region, _C.bucket, _C.samples, _C.hourly_cost_sum).where(
        _C.bucket >= start, _C.bucket < end
    )
    with store.reading("reading 6-hour rollups") as conn:
        rows = conn.execute(stmt).all()
    return {(r.service, r.provider, r.region, as_utc(r.bucket)): (r.samples, r.hourly_cost_sum) for r in rows}


def rolled_through_at(store: Store) -> datetime | None:
    """``rolled_through`` in a read of its own."""
    with store.reading("reading the rollup position") as conn:
        return rolled_through(conn)
