"""PostgreSQL only: every committed change to the tables the API's cached pages render notifies
``swen_changes`` (payload: the version topic), so API replicas learn about writes instead of asking.

Statement-level ``AFTER`` triggers (one ``pg_notify`` per statement; PostgreSQL folds identical
notifications of one transaction into one and delivers it only when the transaction commits):

- topic ``telemetry_samples``: ``telemetry_samples`` (the partitioned parent) and ``telemetry_latest``;
- topic ``events``: ``events`` and ``decisions``.

SQLite gets nothing (the API asks the database there: a read-only probe costs microseconds).
See ``swen.store.notify`` and ``swen.store.versions``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 03:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "swen_notify_change"
TRIGGERS = {
    "telemetry_samples": "telemetry_samples",
    "telemetry_latest": "telemetry_samples",
    "events": "events",
    "decisions": "events",
}
"""table -> the version topic its changes invalidate (kept in step with ``swen.store.versions``)."""


def _trigger(table: str) -> str:
    return f"swen_notify_{table}"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('swen_changes', TG_ARGV[0]);
            RETURN NULL;
        END
        $$
        """
    )
    for table, topic in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {_trigger(table)} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}('{topic}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {_trigger(table)} ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
