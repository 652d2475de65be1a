"""The counter desk: money due at the counter, card-less intake, exemptions, amendments,
further payments per case, cash drawers and the day's takings

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00

``cases`` gains the money still due at the counter, the identity document of a card-less
intake and the exemption; ``case_amendments`` keeps each correction (values encrypted).
``payments`` gains a sequence (the fee is 1, each further payment of a difference the next),
so the one-live-payment index covers (case, sequence); the counter a payment was taken at
and the client's Idempotency-Key. ``payment_refunds`` says how the money went back (the
provider or cash) and from which counter. The ledger: ``ledger_entries`` (one line per
payment or refund and procedure), ``ledger_days`` (closed days are locked),
``drawer_counts`` (cash counted at closing) and ``cash_movements`` (cash in and out of a
drawer, with tendered and change).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE_SQL = "status IN ('created', 'pending', 'succeeded', 'partially_refunded', 'refunded')"


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("due_yen", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("identity_document", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("exemption", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("exemption_basis", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("exempted_by", sa.String(length=64), nullable=True))
    op.create_table(
        "case_amendments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("fee_before_yen", sa.Integer(), nullable=False),
        sa.Column("fee_after_yen", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("changes", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_amendments_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_amendments")),
    )
    op.create_index(op.f("ix_case_amendments_case_id"), "case_amendments", ["case_id"])

    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("counter_code", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("request_key", sa.String(length=128), nullable=True))
    op.create_index("uq_payments_request_key", "payments", ["request_key"], unique=True)
    op.drop_index("uq_payments_live_case", table_name="payments")
    op.create_index(
        "uq_payments_live_case",
        "payments",
        ["case_id", "sequence"],
        unique=True,
        sqlite_where=sa.text(_LIVE_SQL),
        postgresql_where=sa.text(_LIVE_SQL),
    )
    with op.batch_alter_table("payment_refunds") as batch:
        batch.add_column(
            sa.Column("method", sa.String(length=16), nullable=False, server_default="provider")
        )
        batch.add_column(sa.Column("counter_code", sa.String(length=64), nullable=True))

    op.create_table(
        "ledger_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_ledger_days")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ledger_day", sa.Date(), nullable=False),
        sa.Column("origin_day", sa.Date(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("procedure_code", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("amount_yen", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("counter_code", sa.String(length=64), nullable=True),
        sa.Column("booked_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'payment' AND amount_yen > 0) OR (kind = 'refund' AND amount_yen < 0) "
            "OR (kind = 'exemption' AND amount_yen = 0)",
            name=op.f("ck_ledger_entries_amount_matches_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_ledger_entries_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ledger_entries_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["payment_refunds.id"],
            name=op.f("fk_ledger_entries_refund_id_payment_refunds"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_day", "ledger_entries", ["ledger_day", "procedure_code", "method"]
    )
    op.create_index(op.f("ix_ledger_entries_case_id"), "ledger_entries", ["case_id"])
    op.create_index(op.f("ix_ledger_entries_payment_id"), "ledger_entries", ["payment_id"])
    op.create_index(op.f("ix_ledger_entries_refund_id"), "ledger_entries", ["refund_id"])
    op.create_table(
        "drawer_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("drawer", sa.String(length=64), nullable=False),
        sa.Column("float_yen", sa.Integer(), nullable=False),
        sa.Column("expected_yen", sa.Integer(), nullable=False),
        sa.Column("counted_yen", sa.Integer(), nullable=False),
        sa.Column("difference_yen", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("counted_by", sa.String(length=64), nullable=False),
        sa.Column("counted_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("counted_yen >= 0", name=op.f("ck_drawer_counts_counted_not_negative")),
        sa.CheckConstraint(
            "difference_yen = counted_yen - expected_yen",
            name=op.f("ck_drawer_counts_difference_is_counted_minus"),
        ),
        sa.ForeignKeyConstraint(
            ["day"], ["ledger_days.day"], name=op.f("fk_drawer_counts_day_ledger_days")
        ),
        sa.PrimaryKeyConstraint("day", "drawer", name=op.f("pk_drawer_counts")),
    )
    op.create_table(
        "cash_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ledger_day", sa.Date(), nullable=False),
        sa.Column("drawer", sa.String(length=64), nullable=False),
        sa.Column("amount_yen", sa.Integer(), nullable=False),
        sa.Column("tendered_yen", sa.Integer(), nullable=True),
        sa.Column("change_yen", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("amount_yen <> 0", name=op.f("ck_cash_movements_amount_not_zero")),
        sa.CheckConstraint(
            "tendered_yen IS NULL OR (tendered_yen >= amount_yen AND "
            "change_yen = tendered_yen - amount_yen)",
            name=op.f("ck_cash_movements_change_is_tendered_minus_amount"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_cash_movements_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["payment_refunds.id"],
            name=op.f("fk_cash_movements_refund_id_payment_refunds"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_movements")),
    )
    op.create_index("ix_cash_movements_day_drawer", "cash_movements", ["ledger_day", "drawer"])
    op.create_index(op.f("ix_cash_movements_payment_id"), "cash_movements", ["payment_id"])


def downgrade() -> None:
    op.drop_table("cash_movements")
    op.drop_table("drawer_counts")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_days")
    with op.batch_alter_table("payment_refunds") as batch:
        batch.drop_column("counter_code")
        batch.drop_column("method")
    op.drop_index("uq_payments_live_case", table_name="payments")
    op.drop_index("uq_payments_request_key", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("request_key")
        batch.drop_column("counter_code")
        batch.drop_column("sequence")
    op.create_index(
        "uq_payments_live_case",
        "payments",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text(_LIVE_SQL),
        postgresql_where=sa.text(_LIVE_SQL),
    )
    op.drop_index(op.f("ix_case_amendments_case_id"), table_name="case_amendments")
    op.drop_table("case_amendments")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("exempted_by")
        batch.drop_column("exemption_basis")
        batch.drop_column("exemption")
        batch.drop_column("identity_document")
        batch.drop_column("due_yen")
