"""staff sessions that can be ended; log-in failures per account and client address

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00

``staff.session_version`` is stamped into console sessions and API tokens (bumped by a
log-out, a password change, a deactivation or a role change: every older session and token
ends). ``staff_login_failures`` counts failures per account *and* address, so a lock-out
earned from one address does not lock the account for everyone else.
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
    with op.batch_alter_table("staff") as batch:
        batch.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "staff_login_failures",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "failures >= 0", name=op.f("ck_staff_login_failures_failures_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_login_failures_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "address", name=op.f("pk_staff_login_failures")),
    )


def downgrade() -> None:
    op.drop_table("staff_login_failures")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("session_version")
