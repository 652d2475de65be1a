"""help requests: "Call staff" at a kiosk, until a member of staff acknowledges it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00

On PostgreSQL the table notifies the live hubs like tickets do (migration 0005's
``kiosk_notify_change``), so an alert reaches every staff console within a moment,
whichever process the kiosk's service runs in.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "help_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("kiosk_id", sa.String(length=40), nullable=False),
        sa.Column("screen", sa.String(length=24), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("raised_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["staff.id"],
            name=op.f("fk_help_requests_acknowledged_by_id_staff"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_requests")),
        sa.UniqueConstraint("token", name=op.f("uq_help_requests_token")),
    )
    op.create_index(
        "ix_help_requests_open", "help_requests", ["acknowledged_at", "raised_at"], unique=False
    )
    op.create_index(
        "ix_help_requests_kiosk_open",
        "help_requests",
        ["kiosk_id", "acknowledged_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_help_requests_business_day"), "help_requests", ["business_day"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER help_requests_notify_change AFTER INSERT OR UPDATE OR DELETE "
            "ON help_requests FOR EACH STATEMENT EXECUTE FUNCTION kiosk_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS help_requests_notify_change ON help_requests")
    op.drop_index(op.f("ix_help_requests_business_day"), table_name="help_requests")
    op.drop_index("ix_help_requests_kiosk_open", table_name="help_requests")
    op.drop_index("ix_help_requests_open", table_name="help_requests")
    op.drop_table("help_requests")
