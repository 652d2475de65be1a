"""indexes that keep people-ahead, call-next and the wait estimate flat as the day fills

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:00:00

``ix_tickets_waiting`` (status, queue, priority, sort time) had no business day, so for the
count of people ahead and for call-next (both ``status = 'waiting' AND business_day = ?``)
the planners preferred the single-column ``ix_tickets_business_day`` and walked every
ticket of the day: the 5,000th ticket cost several times the first. The index now leads with
status and business day, then queue, priority and sort time: those statements read only the
day's waiting tickets (tens, not thousands), whatever the day's size.

The wait estimate averages a queue's twenty latest service times. On the full
``ix_tickets_queue_completed`` PostgreSQL fetched every ticket the queue ever had and
sorted them (a bitmap scan, 1,272 rows at 5,000 tickets); the partial index
``ix_tickets_queue_served`` holds only served tickets, so the twenty newest are its last
twenty entries on both databases.

SQLite needs no ANALYZE for these plans: with status and day leading, its planner picks them
from the statements alone (EXPLAIN QUERY PLAN on a fresh, unanalysed database holding 5,000
tickets of the day). PostgreSQL does for the wait estimate: without statistics it guesses a
bitmap scan and a sort of the queue's served tickets, with them it walks the partial index
backwards and stops after twenty. Autovacuum keeps the statistics of a running database; this
migration gathers them once so the plan is right from the first ticket after the upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tickets_waiting_day",
        "tickets",
        ["status", "business_day", "queue_id", "priority", "sort_at"],
    )
    op.drop_index("ix_tickets_waiting", table_name="tickets")
    served = sa.text("service_s IS NOT NULL")
    op.create_index(
        "ix_tickets_queue_served",
        "tickets",
        ["queue_id", "completed_at"],
        sqlite_where=served,
        postgresql_where=served,
    )
    op.drop_index("ix_tickets_queue_completed", table_name="tickets")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_queue_completed", "tickets", ["queue_id", "completed_at"])
    op.drop_index("ix_tickets_queue_served", table_name="tickets")
    op.create_index("ix_tickets_waiting", "tickets", ["status", "queue_id", "priority", "sort_at"])
    op.drop_index("ix_tickets_waiting_day", table_name="tickets")
