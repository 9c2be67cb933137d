"""6-hour rollups: ``telemetry_rollups_6h``, filled from the existing hourly rollups (both backends).

Per (service, provider, region) and 6-hour bucket (starting 00, 06, 12 or 18 UTC) the sample count and
the sum of the hourly price: exactly the sums of the bucket's rows in ``telemetry_rollups``, which the
maintenance step keeps so from now on (store/rollups.py). The 30-day Cost Analysis reads a row per
service and bucket from it instead of grouping six hourly rows each (docs/BENCHMARKS.md, branch
costtab). A bucket whose hours are only partly rolled up yet gets the part rolled up, as the
maintenance step writes it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 06:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the 6-hour bucket of an hourly rollup's hour, in each backend's storage form (SQLite keeps
# 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, like store/rollups.py's _bucket_of)
_BUCKET = {
    "postgresql": "date_bin(interval '6 hours', hour, timestamptz '2000-01-01 00:00:00+00')",
    "sqlite": "substr(hour, 1, 11) || printf('%02d', (CAST(substr(hour, 12, 2) AS INTEGER) / 6) * 6)"
    " || ':00:00.000000'",
}


def upgrade() -> None:
    op.create_table(
        "telemetry_rollups_6h",
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("provider", sa.String(63), nullable=False),
        sa.Column("region", sa.String(63), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("hourly_cost_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "service", "provider", "region", "bucket", name=op.f("pk_telemetry_rollups_6h")
        ),
    )
    bucket = _BUCKET[op.get_bind().dialect.name]
    op.execute(
        "INSERT INTO telemetry_rollups_6h (service, provider, region, bucket, samples, hourly_cost_sum) "
        "SELECT service, provider, region, b, sum(samples), sum(hourly_cost_sum) FROM ("
        f"SELECT service, provider, region, {bucket} AS b, samples, hourly_cost_sum FROM telemetry_rollups"
        ") AS hours GROUP BY service, provider, region, b"
    )
    op.create_index("ix_telemetry_rollups_6h_bucket", "telemetry_rollups_6h", ["bucket"])


def downgrade() -> None:
    op.drop_index("ix_telemetry_rollups_6h_bucket", table_name="telemetry_rollups_6h")
    op.drop_table("telemetry_rollups_6h")
