"""Payment tables (on ``kiosk.models.Base`` so Alembic and the domain share one metadata).

Invariants held by the database: positive amounts, refunds never above the amount, one
idempotency key per payment, one provider object per payment, each webhook event stored
once (``provider_events.event_id`` is the de-duplication key) and at most one live
(created, pending or taken) payment per case, so a case cannot be charged twice.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, text
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
        Index(
            "uq_payments_live_case",
            "case_id",
            unique=True,
            sqlite_where=text(_LIVE_SQL),
            postgresql_where=text(_LIVE_SQL),
        ),
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
