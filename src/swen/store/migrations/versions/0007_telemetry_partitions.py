"""Telemetry at scale: hourly rollups (both backends); on PostgreSQL ``telemetry_samples`` becomes a
table partitioned by RANGE (ts), one partition per UTC day, with the existing rows moved into it.

The partitioned table keeps the column definitions, the id sequence and the index names; its primary
key becomes (id, ts) (PostgreSQL requires the partition key in it). The partitions for the days the
existing rows cover are created here, and the rows copied in one statement per day; after that the
platform creates the partitions (store/partitions.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 00:40:00.000000
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "telemetry_samples_unpartitioned"
_log = logging.getLogger("alembic.runtime.migration")


def _partition_ddl(day: date) -> str:
    lo = datetime.combine(day, time(0), tzinfo=UTC)
    hi = lo + timedelta(days=1)
    return (
        f"CREATE TABLE IF NOT EXISTS telemetry_samples_p{day:%Y%m%d} PARTITION OF telemetry_samples "
        f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
    )


def _partition_postgresql() -> None:
    """Existing rows are copied day by day, each day straight into its partition (no tuple routing)
    by its own statement, before the partitioned table has any index; the primary key and the two
    indexes are then built once per partition from sorted data, instead of being updated row by row.
    All of it is one transaction, as Alembic runs every migration: a failure or a crash leaves the
    database at 0006 with nothing half-moved (docs/BENCHMARKS.md, "Migration 0007 on a large table")."""
    bind = op.get_bind()
    op.execute(f"ALTER TABLE telemetry_samples RENAME TO {_OLD}")
    op.execute("ALTER INDEX pk_telemetry_samples RENAME TO pk_telemetry_samples_unpartitioned")
    op.execute("ALTER INDEX ix_telemetry_service_ts RENAME TO ix_telemetry_service_ts_unpartitioned")
    op.execute("ALTER INDEX ix_telemetry_ts RENAME TO ix_telemetry_ts_unpartitioned")
    op.execute("ALTER SEQUENCE telemetry_samples_id_seq OWNED BY NONE")
    op.execute(f"CREATE TABLE telemetry_samples (LIKE {_OLD} INCLUDING DEFAULTS) PARTITION BY RANGE (ts)")
    op.execute("ALTER SEQUENCE telemetry_samples_id_seq OWNED BY telemetry_samples.id")
    first, last = bind.execute(sa.text(f"SELECT min(ts), max(ts) FROM {_OLD}")).one()
    today = datetime.now(UTC).date()
    days = {today, today + timedelta(days=1)}
    with_rows: list[date] = []
    if first is not None:
        day = first.astimezone(UTC).date()
        while day <= last.astimezone(UTC).date():
            with_rows.append(day)
            day += timedelta(days=1)
    for day in sorted(days | set(with_rows)):
        op.execute(_partition_ddl(day))
    if with_rows:
        op.execute(f"ANALYZE {_OLD}")  # each day's SELECT below reads its range through the ts index
    for day in with_rows:
        lo = datetime.combine(day, time(0), tzinfo=UTC)
        moved = bind.execute(
            sa.text(
                f"INSERT INTO telemetry_samples_p{day:%Y%m%d} "
                f"SELECT * FROM {_OLD} WHERE ts >= :lo AND ts < :hi"
            ),
            {"lo": lo, "hi": lo + timedelta(days=1)},
        ).rowcount
        _log.info("telemetry of %s: %s rows moved into its partition", day, moved)
    op.execute("ALTER TABLE telemetry_samples ADD CONSTRAINT pk_telemetry_samples PRIMARY KEY (id, ts)")
    op.execute("CREATE INDEX ix_telemetry_service_ts ON telemetry_samples (service, ts)")
    op.execute("CREATE INDEX ix_telemetry_ts ON telemetry_samples (ts)")
    op.execute(f"DROP TABLE {_OLD}")


def _unpartition_postgresql() -> None:
    op.execute(f"ALTER TABLE telemetry_samples RENAME TO {_OLD}")
    op.execute("ALTER INDEX pk_telemetry_samples RENAME TO pk_telemetry_samples_unpartitioned")
    op.execute("ALTER INDEX ix_telemetry_service_ts RENAME TO ix_telemetry_service_ts_unpartitioned")
    op.execute("ALTER INDEX ix_telemetry_ts RENAME TO ix_telemetry_ts_unpartitioned")
    op.execute("ALTER SEQUENCE telemetry_samples_id_seq OWNED BY NONE")
    op.execute(
        f"CREATE TABLE telemetry_samples (LIKE {_OLD} INCLUDING DEFAULTS, "
        "CONSTRAINT pk_telemetry_samples PRIMARY KEY (id))"
    )
    op.execute("ALTER SEQUENCE telemetry_samples_id_seq OWNED BY telemetry_samples.id")
    op.execute("CREATE INDEX ix_telemetry_service_ts ON telemetry_samples (service, ts)")
    op.execute("CREATE INDEX ix_telemetry_ts ON telemetry_samples (ts)")
    op.execute(f"INSERT INTO telemetry_samples SELECT * FROM {_OLD}")
    op.execute(f"DROP TABLE {_OLD} CASCADE")


def upgrade() -> None:
    op.create_table(
        "telemetry_rollups",
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("provider", sa.String(63), nullable=False),
        sa.Column("region", sa.String(63), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("instance_type", sa.String(64), nullable=False),
        sa.Column("hourly_cost_sum", sa.Float(), nullable=False),
        sa.Column("credits_sum", sa.Float(), nullable=False),
        sa.Column("latency_sum", sa.Float(), nullable=False),
        sa.Column("latency_p95", sa.Float(), nullable=False),
        sa.Column("availability_sum", sa.Float(), nullable=False),
        sa.Column("availability_min", sa.Float(), nullable=False),
        sa.Column("error_rate_sum", sa.Float(), nullable=False),
        sa.Column("gpu_availability_sum", sa.Float(), nullable=False),
        sa.Column("simulated_price", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("service", "provider", "region", "hour", name=op.f("pk_telemetry_rollups")),
    )
    op.create_index("ix_telemetry_rollups_hour", "telemetry_rollups", ["hour"])
    op.create_table(
        "telemetry_provider_rollups",
        sa.Column("provider", sa.String(63), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("hourly_cost_sum", sa.Float(), nullable=False),
        sa.Column("credits_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "hour", name=op.f("pk_telemetry_provider_rollups")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _partition_postgresql()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_postgresql()
    op.drop_table("telemetry_provider_rollups")
    op.drop_index("ix_telemetry_rollups_hour", table_name="telemetry_rollups")
    op.drop_table("telemetry_rollups")
