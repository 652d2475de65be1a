"""one ticket through several queues: ticket stops, the route's order, service time per stop

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 14:00:00

A case with procedures in several queues gets one ticket that visits the queues in the
catalog's route order (``queues.route_rank``). ``ticket_stops`` holds one row per queue of
a ticket's route with what happened there (counter, serving and completion time, service
time); ``tickets.stop`` is the stop the ticket is at and ``tickets.stops`` how many it has.

Every existing ticket becomes a one-stop route, its stop filled from the ticket itself, so
the wait estimates (which now read service times per stop) keep the history they had.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SERVED = sa.text("service_s IS NOT NULL")


def upgrade() -> None:
    op.add_column(
        "queues", sa.Column("route_rank", sa.Integer(), server_default="0", nullable=False)
    )
    # SQLite cannot add a CHECK to a table: batch mode copies it (PostgreSQL alters it).
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("stop", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("stops", sa.Integer(), server_default="1", nullable=False))
        batch.create_check_constraint(
            op.f("ck_tickets_stop_in_route"), "stop >= 0 AND stop < stops"
        )
    op.create_table(
        "ticket_stops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("counter_id", sa.Integer(), nullable=True),
        sa.Column("arrived_at", sa.DateTime(), nullable=True),
        sa.Column("serving_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("service_s", sa.Integer(), nullable=True),
        sa.CheckConstraint("position >= 0", name=op.f("ck_ticket_stops_position_not_negative")),
        sa.CheckConstraint("service_s >= 0", name=op.f("ck_ticket_stops_service_not_negative")),
        sa.ForeignKeyConstraint(
            ["counter_id"], ["counters.id"], name=op.f("fk_ticket_stops_counter_id_counters")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name=op.f("fk_ticket_stops_queue_id_queues")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_stops_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_stops")),
        sa.UniqueConstraint("ticket_id", "position", name=op.f("uq_ticket_stops_ticket_id")),
    )
    op.create_index(
        "ix_ticket_stops_queue_served",
        "ticket_stops",
        ["queue_id", "completed_at"],
        sqlite_where=SERVED,
        postgresql_where=SERVED,
    )
    op.execute(
        "INSERT INTO ticket_stops (ticket_id, position, queue_id, counter_id, arrived_at, "
        "serving_at, completed_at, service_s) "
        "SELECT id, 0, queue_id, counter_id, issued_at, serving_at, completed_at, service_s "
        "FROM tickets"
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_stops_queue_served", table_name="ticket_stops")
    op.drop_table("ticket_stops")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint(op.f("ck_tickets_stop_in_route"), type_="check")
        batch.drop_column("stops")
        batch.drop_column("stop")
    op.drop_column("queues", "route_rank")
