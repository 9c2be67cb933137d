"""PostgreSQL only: changes of the fleet, the placements and the rollups notify ``swen_changes`` too,
so the API keeps what the 30-day Cost Analysis reads from them in memory between requests and learns
when it changed (``swen.store.versions``, ``swen.api.memo``).

The same statement-level ``AFTER`` triggers and function as migration 0011, three more topics:

- ``services``: ``services`` (the fleet's specs);
- ``placements``: ``placements`` (where each service runs, as applied);
- ``rollups``: ``telemetry_rollups``, ``telemetry_rollups_6h`` and ``telemetry_provider_rollups``
  (written by the maintenance step about once an hour).

Triggers, not calls in SWEN's writers, so every writer is covered (a row deleted by hand too). SQLite
gets nothing: there the API reads these on every request, as before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "swen_notify_change"
"""Created by migration 0011: ``pg_notify('swen_changes', TG_ARGV[0])``."""
TRIGGERS = {
    "services": "services",
    "placements": "placements",
    "telemetry_rollups": "rollups",
    "telemetry_rollups_6h": "rollups",
    "telemetry_provider_rollups": "rollups",
}
"""table -> the version topic its changes invalidate (kept in step with ``swen.store.versions``)."""


def _trigger(table: str) -> str:
    return f"swen_notify_{table}"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
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
