"""Payment tables (on ``kiosk.models.Base`` so Alembic and the domain share one metadata).

Invariants held by the database: positive amounts, refunds never above the amount, one
idempotency key per payment, one provider object per payment, each webhook event stored
once (``provider_events.event_id`` is the de-duplication key) and at most one live
(created, pending or taken) payment per case and sequence, so a case cannot be charged
twice for the same amount due (the fee is sequence 1; a difference collected at the counter
after an amendment is the next). The day's takings (ledger lines, days and their closing,
drawer counts, cash movements) live here too: see ``payments.ledger``.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kiosk.models import Base, Case, UTCDateTime, _enum


class PaymentStatus(enum.Enum):
    CREATED = "created"  # row written, provider not (yet) called
    PENDING = "pending"  # on the terminal / QR shown
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


_LIVE_SQL = "status IN ('created', 'pending', 'succeeded', 'partially_refunded', 'refunded')"


class Payment(Base):
    """One attempt to collect a case's fee through one provider."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_yen > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_yen >= 0 AND refunded_yen <= amount_yen", name="refund_within_amount"
        ),
        # One live payment per case and sequence: the fee (1), then each further payment
        # an amendment asks for at the counter (2, 3, ...).
        Index(
            "uq_payments_live_case",
            "case_id",
            "sequence",
            unique=True,
            sqlite_where=text(_LIVE_SQL),
            postgresql_where=text(_LIVE_SQL),
        ),
        # A unique index (not a constraint): added to an existing table without rebuilding it.
        Index("uq_payments_request_key", "request_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Random, never reused (SQLite may reuse a rolled-back integer id): the idempotency key
    # derived from it can never collide with another payment's at the provider.
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    amount_yen: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider_ref: Mapped[str | None] = mapped_column(String(128), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(128), index=True)
    status: Mapped[PaymentStatus] = mapped_column(
        _enum(PaymentStatus, "payment_status"), index=True
    )
    method: Mapped[str | None] = mapped_column(String(32))
    display_url: Mapped[str | None] = mapped_column(String(1024))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    refunded_yen: Mapped[int] = mapped_column(Integer, default=0)
    kiosk_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 1 for a case's fee; 2, 3, ... for further payments of differences at the counter.
    sequence: Mapped[int] = mapped_column(Integer, default=1)
    # Taken at a counter (its drawer for cash, its terminal or QR): the counter's code.
    counter_code: Mapped[str | None] = mapped_column(String(64))
    # The client's Idempotency-Key of the request that recorded it: a retry records nothing.
    request_key: Mapped[str | None] = mapped_column(String(128))

    case: Mapped[Case] = relationship()
    refunds: Mapped[list[PaymentRefund]] = relationship(
        back_populates="payment", order_by="PaymentRefund.id"
    )

    def __repr__(self) -> str:
        return (
            f"Payment({self.public_id}, case={self.case_id}, {self.amount_yen} yen, "
            f"{self.provider}, {self.status.value})"
        )


class PaymentRefund(Base):
    """A staff-approved refund (full or partial) of a succeeded payment."""

    __tablename__ = "payment_refunds"
    __table_args__ = (CheckConstraint("amount_yen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount_yen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    refund_ref: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How the money went back: through the payment's provider, or ``cash`` from a drawer.
    method: Mapped[str] = mapped_column(String(16), default="provider")
    counter_code: Mapped[str | None] = mapped_column(String(64))

    payment: Mapped[Payment] = relationship(back_populates="refunds")


class ProviderEventRecord(Base):
    """A webhook event already handled (de-duplication on the provider's event id)."""

    __tablename__ = "provider_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider: Mapped[str] = mapped_column(String(24))
    type: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """One line of the day's takings (収納日計): what one payment or refund did to one
    procedure, booked once when the money moved (``payments.ledger``) and never changed.

    ``amount_yen`` is positive for a payment, negative for a refund and 0 for an
    exemption. ``ledger_day`` is the business day the line counts on (a day already closed
    books on the next open one: ``origin_day`` keeps the day it belongs to, and for a
    refund the day of the payment it gives back); ``fiscal_year`` is the origin day's
    (a refund of an earlier fiscal year is 過年度).
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'payment' AND amount_yen > 0) OR (kind = 'refund' AND amount_yen < 0) "
            "OR (kind = 'exemption' AND amount_yen = 0)",
            name="amount_matches_kind",
        ),
        Index("ix_ledger_entries_day", "ledger_day", "procedure_code", "method"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_day: Mapped[date] = mapped_column(Date)
    origin_day: Mapped[date] = mapped_column(Date)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    procedure_code: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))
    amount_yen: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("payment_refunds.id"), index=True)
    # The cash drawer (the counter's code) for cash; the counter or None otherwise.
    counter_code: Mapped[str | None] = mapped_column(String(64))
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerDay(Base):
    """A business day of the ledger: open until a supervisor closes it; a closed day is
    never written again (its row is the lock that bookings and the closing share)."""

    __tablename__ = "ledger_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))


class DrawerCount(Base):
    """The cash a supervisor counted in one drawer when closing a day, against what the
    records say it should hold (change fund + cash taken - cash given back). A difference
    (現金過不足) is kept with its reason, never hidden."""

    __tablename__ = "drawer_counts"
    __table_args__ = (
        CheckConstraint("counted_yen >= 0", name="counted_not_negative"),
        CheckConstraint(
            "difference_yen = counted_yen - expected_yen", name="difference_is_counted_minus"
        ),
    )

    day: Mapped[date] = mapped_column(ForeignKey("ledger_days.day"), primary_key=True)
    drawer: Mapped[str] = mapped_column(String(64), primary_key=True)
    float_yen: Mapped[int] = mapped_column(Integer)
    expected_yen: Mapped[int] = mapped_column(Integer)
    counted_yen: Mapped[int] = mapped_column(Integer)
    difference_yen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")
    counted_by: Mapped[str] = mapped_column(String(64))
    counted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CashMovement(Base):
    """Cash into or out of a counter's drawer: a cash payment (tendered, change) or cash
    given back for a refund. ``amount_yen`` is what stays in (payment, > 0) or leaves
    (refund, < 0) the drawer; the change handed back is not counted twice."""

    __tablename__ = "cash_movements"
    __table_args__ = (
        CheckConstraint("amount_yen <> 0", name="amount_not_zero"),
        CheckConstraint(
            "tendered_yen IS NULL OR (tendered_yen >= amount_yen AND "
            "change_yen = tendered_yen - amount_yen)",
            name="change_is_tendered_minus_amount",
        ),
        Index("ix_cash_movements_day_drawer", "ledger_day", "drawer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ledger_day: Mapped[date] = mapped_column(Date)
    drawer: Mapped[str] = mapped_column(String(64))
    amount_yen: Mapped[int] = mapped_column(Integer)
    tendered_yen: Mapped[int | None] = mapped_column(Integer)
    change_yen: Mapped[int | None] = mapped_column(Integer)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("payment_refunds.id"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
