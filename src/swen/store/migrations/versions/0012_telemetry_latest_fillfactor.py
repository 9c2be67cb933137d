"""PostgreSQL: ``telemetry_latest`` leaves room on each page for HOT updates (``fillfactor = 40``).

Every telemetry tick updates one row per (service, provider, region): 110,000 at 10,000 services.
With free room on the row's page PostgreSQL updates it in place of the index (a heap-only tuple);
measured in psql, 110,000 upserts took 2.5-3.0 s at the default fillfactor (100) and 1.5-1.6 s at 40
(docs/BENCHMARKS.md, "A live fleet of 10,000 services"). The table is small (one row per group), so
the extra pages cost little. Pages written from now on keep the room (existing rows move as they are
updated). SQLite has no such setting: nothing to do there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 04:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 40


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE telemetry_latest SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE telemetry_latest RESET (fillfactor)")
