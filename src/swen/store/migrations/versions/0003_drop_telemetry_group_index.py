"""Drop ix_telemetry_group_ts: telemetry_latest answers "latest" now, and the index cost ~16 % of ingest CPU.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:27:14.229501
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_group_ts"))


def downgrade() -> None:
    with op.batch_alter_table("telemetry_samples", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_telemetry_group_ts"), ["service", "provider", "region", "ts"], unique=False
        )
