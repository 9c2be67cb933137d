"""The last comment SWEN posted on each merge request (``mr_comments``: its SHA-256 per MR).

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-05 00:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mr_comments",
        sa.Column("mr_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("chars", sa.Integer(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mr_id"], ["merge_requests.id"], name=op.f("fk_mr_comments_mr_id_merge_requests")
        ),
        sa.PrimaryKeyConstraint("mr_id", name=op.f("pk_mr_comments")),
    )


def downgrade() -> None:
    op.drop_table("mr_comments")
