"""telemetry_latest: the newest sample per (service, provider, region), backfilled from history.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:19:23.601616
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_COLUMNS = (
    "service, provider, region, ts, instance_type, hourly_cost_usd, latency_ms, credits_usd, "
    "gpu_availability, availability, error_rate, simulated_price"
)
# One row per group: the newest ts, the last inserted on a tie (uses ix_telemetry_group_ts).
BACKFILL = f"""
INSERT INTO telemetry_latest ({_COLUMNS})
SELECT {_COLUMNS} FROM telemetry_samples WHERE id IN (
    SELECT (
        SELECT t.id FROM telemetry_samples t
        WHERE t.service = g.service AND t.provider = g.provider AND t.region = g.region
        ORDER BY t.ts DESC, t.id DESC LIMIT 1
    )
    FROM (SELECT DISTINCT service, provider, region FROM telemetry_samples) g
)
"""


def upgrade() -> None:
    op.create_table(
        "telemetry_latest",
        sa.Column("service", sa.String(length=63), nullable=False),
        sa.Column("provider", sa.String(length=63), nullable=False),
        sa.Column("region", sa.String(length=63), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("instance_type", sa.String(length=64), nullable=False),
        sa.Column("hourly_cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("credits_usd", sa.Float(), nullable=False),
        sa.Column("gpu_availability", sa.Float(), nullable=False),
        sa.Column("availability", sa.Float(), nullable=False),
        sa.Column("error_rate", sa.Float(), nullable=False),
        sa.Column("simulated_price", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("service", "provider", "region", name=op.f("pk_telemetry_latest")),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("telemetry_latest")
