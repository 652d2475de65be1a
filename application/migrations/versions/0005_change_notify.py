"""PostgreSQL: notify live screens of ticket, counter and queue changes at commit

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00

Every statement that changes ``tickets``, ``counters`` or ``queues`` calls
``pg_notify('kiosk_changes', '')`` in its own transaction: PostgreSQL delivers it when that
transaction commits (never for a rollback) and folds repeats within one transaction into
one, so each process's live hub (``application.live``) hears of every committed change
once, whichever process or tool made it. SQLite has no notifications: the hub polls there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("tickets", "counters", "queues")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION kiosk_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('kiosk_changes', '');
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify_change AFTER INSERT OR UPDATE OR DELETE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION kiosk_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify_change ON {table}")
    op.execute("DROP FUNCTION IF EXISTS kiosk_notify_change()")
