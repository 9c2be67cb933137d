"""The action queue (``actions``): moves handed from the engine cycle to the leader's workers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 00:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=True),
        sa.Column("mr_id", sa.Integer(), nullable=True),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("provider", sa.String(63), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(256), nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("waiting", sa.String(300), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("key", name=op.f("uq_actions_key")),
    )
    op.create_index(op.f("ix_actions_decision_id"), "actions", ["decision_id"])
    op.create_index("ix_actions_state_order", "actions", ["state", "emergency", "priority"])


def downgrade() -> None:
    op.drop_index("ix_actions_state_order", table_name="actions")
    op.drop_index(op.f("ix_actions_decision_id"), table_name="actions")
    op.drop_table("actions")
