"""index for the wait estimate: tickets by queue and completion time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_queue_completed", "tickets", ["queue_id", "completed_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_queue_completed", table_name="tickets")
