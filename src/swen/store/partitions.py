"""PostgreSQL: ``telemetry_samples`` is partitioned by RANGE of ``ts``, one partition per UTC day.

The platform creates partitions itself, never a person: the maintenance step (``store/maintenance.py``,
run by the simulator/collector and by ``swen maintenance run``) keeps ``telemetry_partition_ahead_days``
days ready ahead of the clock, and the ingest path creates a missing day's partition in the batch's
own transaction (a backfill, or a clock ahead of the maintenance). Retention detaches and drops a
whole day's partition instead of deleting its rows.

Partition names are built from ``datetime.date`` values only (``telemetry_samples_p20261205``), never
from external text, so they are safe to put into DDL. Creation is serialised between processes with a
transaction-scoped advisory lock, so two writers racing for the same new day do not collide.

On SQLite the table stays a plain table: every function here is PostgreSQL only (``is_partitioned``
says whether the connected database has the partitioned table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, text

PARENT = "telemetry_samples"
_NAME_RE = re.compile(r"^telemetry_samples_p(\d{8})$")
_CREATE_LOCK_KEY = 0x5357454E_7061  # pg_advisory_xact_lock key: "SWEN" + "pa" (partition DDL)


@dataclass(frozen=True, slots=True, order=True)
class Partition:
    """One day's partition: rows with ``day <= ts < day + 1`` (UTC)."""

    day: date
    name: str

    @property
    def start(self) -> datetime:
        return day_start(self.day)

    @property
    def end(self) -> datetime:
        return day_start(self.day + timedelta(days=1))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def day_of(ts: datetime) -> date:
    """The UTC day a timestamp falls in."""
    return ts.astimezone(UTC).date()


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def is_partition_name(name: str | None) -> bool:
    """Whether ``name`` is one of the day partitions (Alembic's comparison leaves them out)."""
    return name is not None and _NAME_RE.match(name) is not None


def is_partitioned(conn: Connection) -> bool:
    """True on PostgreSQL when ``telemetry_samples`` is the partitioned table (migration 0007)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": PARENT}
    ).scalar()
    return kind == "p"


def partition_ddl(day: date) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of one day's partition (names and bounds come from ``day``)."""
    lo, hi = day_start(day), day_start(day + timedelta(days=1))
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
    )


def missing_days(conn: Connection, days: Iterable[date]) -> list[date]:
    """The days among ``days`` that have no partition yet (one query)."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    rows = conn.execute(
        text("SELECT n FROM unnest(CAST(:names AS text[])) AS n WHERE to_regclass(n) IS NULL"),
        {"names": [partition_name(d) for d in wanted]},
    ).scalars()
    absent = set(rows)
    return [d for d in wanted if partition_name(d) in absent]


def ensure_partitions(conn: Connection, days: Iterable[date]) -> list[Partition]:
    """Create the partitions of ``days`` that do not exist, in the caller's transaction; returns those
    created. Cheap when they all exist (one query, no lock)."""
    absent = missing_days(conn, days)
    if not absent:
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CREATE_LOCK_KEY})
    created = []
    for day in missing_days(conn, absent):  # again under the lock: another writer may have made it
        conn.execute(text(partition_ddl(day)))
        created.append(Partition(day, partition_name(day)))
    return created


def ensure_ahead(conn: Connection, today: date, ahead_days: int) -> list[Partition]:
    """Partitions for ``today`` and the ``ahead_days`` days after it."""
    return ensure_partitions(conn, (today + timedelta(days=i) for i in range(ahead_days + 1)))


def list_partitions(conn: Connection) -> list[Partition]:
    """Every day partition attached to ``telemetry_samples``, oldest first."""
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    ).scalars()
    out = []
    for name in names:
        match = _NAME_RE.match(name)
        if match:
            out.append(Partition(datetime.strptime(match.group(1), "%Y%m%d").date(), name))
    return sorted(out)


def partition_rows(conn: Connection, partition: Partition) -> int:
    return int(conn.execute(text(f"SELECT count(*) FROM {partition.name}")).scalar_one())


def drop_partition(conn: Connection, partition: Partition) -> None:
    """DETACH then DROP one day's partition (its rows go with it: archive them first)."""
    if not _NAME_RE.match(partition.name):
        raise ValueError(f"not a telemetry partition: {partition.name!r}")
    conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {partition.name}"))
    conn.execute(text(f"DROP TABLE {partition.name}"))
