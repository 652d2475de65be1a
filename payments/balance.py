"""Reconciling a day's cashless takings with the provider's balance transactions (what the
accounting office checks before the payout reaches the bank).

For a business day: every card and QR payment booked in the ledger that day is looked for
among the provider account's balance transactions created that day (Asia/Tokyo), by its
PaymentIntent; every refund given back through the provider that day, by its refund id.
Every disagreement is reported (:class:`Mismatch`): a payment or refund the provider does
not show that day, one it shows with another amount, and a balance transaction of the day
that belongs to nothing of ours. Matched lines carry the provider's fee and net, so the
report also says what the payout brings.

One Stripe account serves the kiosks and the counters (terminals and Checkout alike), so one
source covers every provider whose name starts with ``stripe``. Payments of other providers
(the simulated terminal) have no balance transactions; they are counted as not reconcilable,
never silently passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.clock import TOKYO
from payments.ledger import CASH
from payments.models import LedgerEntry, Payment, PaymentRefund
from payments.provider import BalanceTransaction

PAYMENT_TYPES = frozenset({"charge", "payment"})


class BalanceSource(Protocol):
    """A provider account whose balance transactions can be listed (Stripe's)."""

    def balance_transactions(self, start: datetime, end: datetime) -> list[BalanceTransaction]:
        """Every balance transaction created in [``start``, ``end``), oldest first. Read-only.
        Raises ProviderUnavailable."""
        ...


@dataclass(frozen=True)
class Mismatch:
    """One disagreement. ``kind``: ``missing_at_provider`` (ours, not the provider's that
    day), ``amount_differs``, ``unknown_at_provider`` (the provider's, not ours that day);
    ``ref``: our payment id or refund id, or the provider's transaction id."""

    kind: str
    ref: str
    ours_yen: int | None
    theirs_yen: int | None
    provider_ref: str = ""

    def line(self) -> str:
        ours = "-" if self.ours_yen is None else str(self.ours_yen)
        theirs = "-" if self.theirs_yen is None else str(self.theirs_yen)
        return f"mismatch: {self.kind} {self.ref} ours={ours} provider={theirs} {self.provider_ref}"


@dataclass
class DayReconciliation:
    """What one day's reconciliation found."""

    day: date
    matched: int = 0
    gross_yen: int = 0
    fee_yen: int = 0
    net_yen: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    not_reconcilable: dict[str, int] = field(default_factory=dict)  # provider -> lines

    def line(self) -> str:
        skipped = sum(self.not_reconcilable.values())
        return (
            f"ledger reconcile: day={self.day.isoformat()} matched={self.matched} "
            f"mismatches={len(self.mismatches)} gross_yen={self.gross_yen} "
            f"fee_yen={self.fee_yen} net_yen={self.net_yen} not_reconcilable={skipped}"
        )


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The business day as an instant range [start, end) (Asia/Tokyo midnights)."""
    start = datetime.combine(day, time(), tzinfo=TOKYO)
    return start, start + timedelta(days=1)


def is_stripe(provider: str) -> bool:
    return provider.startswith("stripe")


def reconcile_day(session: Session, day: date, source: BalanceSource | None) -> DayReconciliation:
    """Compare the cashless lines of ``day`` with ``source``'s balance transactions of that
    day (``source`` None: no Stripe configured, every cashless line is not reconcilable).
    Read-only. Raises ProviderUnavailable."""
    report = DayReconciliation(day)
    payment_ids = set(
        session.scalars(
            select(LedgerEntry.payment_id).where(
                LedgerEntry.ledger_day == day,
                LedgerEntry.kind == "payment",
                LedgerEntry.method != CASH,
            )
        )
    )
    refund_ids = set(
        session.scalars(
            select(LedgerEntry.refund_id).where(
                LedgerEntry.ledger_day == day,
                LedgerEntry.kind == "refund",
                LedgerEntry.method != CASH,
            )
        )
    )
    payments = [session.get(Payment, pid) for pid in sorted(i for i in payment_ids if i)]
    refunds = [session.get(PaymentRefund, rid) for rid in sorted(i for i in refund_ids if i)]
    ours_payments = []
    for payment in payments:
        assert payment is not None
        if is_stripe(payment.provider) and source is not None:
            ours_payments.append(payment)
        else:
            report.not_reconcilable[payment.provider] = (
                report.not_reconcilable.get(payment.provider, 0) + 1
            )
    ours_refunds = []
    for refund in refunds:
        assert refund is not None
        provider = refund.payment.provider
        if is_stripe(provider) and source is not None:
            ours_refunds.append(refund)
        else:
            report.not_reconcilable[provider] = report.not_reconcilable.get(provider, 0) + 1
    if source is None:
        return report
    start, end = day_bounds(day)
    theirs = source.balance_transactions(start, end)
    charges = {t.payment_intent_id: t for t in theirs if t.type in PAYMENT_TYPES}
    refunds_seen = {t.refund_ref: t for t in theirs if t.type == "refund"}
    used: set[str] = set()
    for payment in ours_payments:
        txn = charges.get(payment.payment_intent_id)
        _compare(report, payment.public_id, payment.amount_yen, txn, used)
    for refund in ours_refunds:
        txn = refunds_seen.get(refund.refund_ref)
        _compare(report, refund.refund_ref or f"refund-{refund.id}", -refund.amount_yen, txn, used)
    for txn in theirs:
        if txn.id not in used and (txn.type in PAYMENT_TYPES or txn.type == "refund"):
            report.mismatches.append(
                Mismatch("unknown_at_provider", txn.id, None, txn.amount_yen, txn.source)
            )
    return report


def _compare(
    report: DayReconciliation,
    ref: str,
    ours: int,
    txn: BalanceTransaction | None,
    used: set[str],
) -> None:
    if txn is None:
        report.mismatches.append(Mismatch("missing_at_provider", ref, ours, None))
        return
    used.add(txn.id)
    if txn.amount_yen != ours:
        report.mismatches.append(Mismatch("amount_differs", ref, ours, txn.amount_yen, txn.id))
        return
    report.matched += 1
    report.gross_yen += txn.amount_yen
    report.fee_yen += txn.fee_yen
    report.net_yen += txn.net_yen
