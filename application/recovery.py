"""Recovery after a crash: what a power cut, the OOM killer or a SIGKILL of ``kiosk serve``
left behind, put right at the next start and by ``kiosk payments reconcile``.

Before this (issue 10), each crash in a load test left 4 to 41 cases stuck, and a payment
left on the Stripe reader blocked that reader for about five minutes (every resident in
between was sent to cash). A resident's visit lives in the kiosk process's memory
(``application.visits``): when the process dies, every visit it ran dies with it, so at the
next start nothing of this kiosk is in progress any more. Recovery then, in this order:

1. **This kiosk's open payments** (``created`` or ``pending`` with its ``KIOSK_KIOSK_ID``):
   a ``created`` one is first found at the provider by its idempotency key (the crash may
   have fallen between the provider's answer and our commit); a payment still collecting is
   cancelled there (the reader action too), one the provider took is recorded as succeeded
   and its case gets its ticket as always. Nothing is charged twice (the provider's word
   is applied through the one payment state machine).
2. **The reader**: if it is still busy with anything (a PaymentIntent our row never heard
   of, or one whose row failed on a time-out although the reader got it), the action is
   cancelled, so the next resident can pay at once.
3. **Every payment the provider knows** is settled or failed by the reconciliation that
   follows (``payments.reconcile``; at start-up it runs in its own thread right after).
4. **This kiosk's cases stuck in a transient state** (``draft``, ``confirmed``,
   ``awaiting_payment`` with no open or taken payment): their visit is gone, nobody can
   finish them at the kiosk, so they are cancelled (reason ``kiosk_restarted``, the usual
   ``case.cancelled`` audit row) and the resident simply starts again; the ticket of a
   paid case was issued in step 1 or 3 (the case is then ``queued``, where staff finish
   it). One ``kiosk.recovered`` audit row says what was done.

``kiosk payments reconcile`` runs while the service may be serving a resident, so there it
is careful: only open payments and cases untouched for longer than a visit can live
(``stale_after``) count as left behind, and the reader is released only when it is busy
with a payment that is not in progress any more.

This relies on one process per ``KIOSK_KIOSK_ID`` (one service per kiosk PC, as the README
says): a second process with the same id would see the first one's visits as left behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kiosk import audit
from kiosk.clock import aware
from kiosk.db import transaction
from kiosk.errors import DomainError, InvalidTransition
from kiosk.models import Case, CaseStatus
from kiosk.tickets import cancel_case
from payments.models import Payment
from payments.provider import DrivesAReader, PaymentError, PaymentProvider, ProviderStatus
from payments.states import (
    OPEN,
    TAKEN,
    actor_for,
    apply_provider_state,
    lock_payment,
    payments_of_case,
    request_for,
)

log = logging.getLogger(__name__)

TRANSIENT = (CaseStatus.DRAFT, CaseStatus.CONFIRMED, CaseStatus.AWAITING_PAYMENT)
# While the service runs (``kiosk payments reconcile``), a case or payment untouched for this
# long has no visit any more: an idle visit is wiped after KIOSK_IDLE_TIMEOUT_S (2 minutes by
# default) and a payment given up after KIOSK_PAYMENT_TIMEOUT_S; half an hour is far beyond
# both, even for a resident who keeps touching one screen.
STALE_AFTER = timedelta(minutes=30)


@dataclass
class RecoveryReport:
    """What one recovery did (payment public ids, case ids)."""

    payments_settled: list[str] = field(default_factory=list)
    reader_released: str | None = None
    cases_cancelled: list[int] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    def line(self) -> str:
        released = self.reader_released or "none"
        return (
            f"recovery: payments_settled={len(self.payments_settled)} "
            f"reader_released={released} cases_returned={len(self.cases_cancelled)} "
            f"unreachable={len(self.unreachable)}"
        )


def _settle_left_payment(
    session: Session, provider: PaymentProvider, payment_id: int, now: datetime
) -> str | None:
    """Close one open payment nobody waits for: the provider's outcome, or cancelled."""
    payment = lock_payment(session, payment_id)
    if payment.status not in OPEN:
        return None
    if payment.provider_ref is None:
        view = provider.recover(request_for(payment))
    else:
        view = provider.status(payment.provider_ref)
    if view.status is ProviderStatus.PENDING:
        view = provider.cancel(view.provider_ref)
    before = payment.status
    apply_provider_state(session, payment, view, actor=actor_for(provider), now=now)
    return payment.public_id if payment.status is not before else None


def recover_kiosk(
    sessions: sessionmaker[Session],
    provider: PaymentProvider,
    *,
    kiosk_id: str,
    stale_after: timedelta | None = None,
    now: datetime | None = None,
) -> RecoveryReport:
    """Steps 1, 2 and 4 of the module docstring for kiosk ``kiosk_id`` (step 3 is the
    reconciliation the caller runs; at start-up it follows in the reconciler's thread).
    ``stale_after`` None: at start-up, everything of this kiosk is left behind; otherwise
    only what was untouched for that long (and the reader is released only from payments
    no longer in progress). Each payment and case is its own transaction; provider failures
    are reported, never raised."""
    now = aware(now)
    report = settle_left_payments(
        sessions, provider, kiosk_id=kiosk_id, stale_after=stale_after, now=now
    )
    return_stuck_cases(sessions, report, kiosk_id=kiosk_id, stale_after=stale_after, now=now)
    return report


def settle_left_payments(
    sessions: sessionmaker[Session],
    provider: PaymentProvider,
    *,
    kiosk_id: str,
    stale_after: timedelta | None = None,
    now: datetime | None = None,
) -> RecoveryReport:
    """Steps 1 and 2: this kiosk's open payments left behind closed at the provider's word,
    and the reader freed. Returns the report that :func:`return_stuck_cases` completes."""
    now = aware(now)
    report = RecoveryReport()
    cutoff = now if stale_after is None else now - stale_after
    with sessions() as session:
        open_rows = session.execute(
            select(Payment.id, Payment.public_id, Payment.provider_ref, Payment.created_at).where(
                Payment.provider == provider.name,
                Payment.kiosk_id == kiosk_id,
                Payment.status.in_(list(OPEN)),
            )
        ).all()
    in_progress: set[str] = set()
    for row_id, public_id, ref, created_at in open_rows:
        if created_at > cutoff:
            if ref:
                in_progress.add(ref)
            continue
        try:
            with transaction(sessions) as session:
                settled = _settle_left_payment(session, provider, row_id, now)
        except PaymentError as e:
            log.warning("recovery: payment %s not settled (%s)", public_id, type(e).__name__)
            report.unreachable.append(public_id)
            if ref:
                in_progress.add(ref)  # unknown state: never cancel it blindly
            continue
        if settled:
            report.payments_settled.append(settled)
    if isinstance(provider, DrivesAReader):
        try:
            report.reader_released = provider.release_reader(frozenset(in_progress))
        except PaymentError as e:
            log.warning("recovery: reader not released (%s)", type(e).__name__)
            report.unreachable.append("reader")
    return report


def return_stuck_cases(
    sessions: sessionmaker[Session],
    report: RecoveryReport,
    *,
    kiosk_id: str,
    stale_after: timedelta | None = None,
    now: datetime | None = None,
) -> RecoveryReport:
    """Step 4: this kiosk's transient cases left behind cancelled (see the module doc),
    then one ``kiosk.recovered`` audit row for the whole ``report`` if anything was done."""
    now = aware(now)
    cutoff = now if stale_after is None else now - stale_after
    actor = f"kiosk:{kiosk_id}"
    report.cases_cancelled = _return_stuck_cases(sessions, actor=actor, cutoff=cutoff, now=now)
    if report.payments_settled or report.reader_released or report.cases_cancelled:
        with transaction(sessions) as session:
            audit.record(
                session,
                actor,
                "kiosk.recovered",
                detail={
                    "payments_settled": report.payments_settled,
                    "reader_released": report.reader_released,
                    "cases_returned": report.cases_cancelled,
                },
                now=now,
            )
        log.warning(report.line())
    return report


def _return_stuck_cases(
    sessions: sessionmaker[Session], *, actor: str, cutoff: datetime, now: datetime
) -> list[int]:
    with sessions() as session:
        ids = list(
            session.scalars(
                select(Case.id)
                .where(
                    Case.opened_by == actor,
                    Case.status.in_(TRANSIENT),
                    Case.updated_at <= cutoff,
                )
                .order_by(Case.id)
            )
        )
    cancelled: list[int] = []
    for case_id in ids:
        try:
            with transaction(sessions) as session:
                payments = payments_of_case(session, case_id)
                if any(p.status in OPEN or p.status in TAKEN for p in payments):
                    continue  # money may be on its way or taken: reconciliation decides
                case = session.get(Case, case_id)
                if case is None or case.status not in TRANSIENT:
                    continue
                cancel_case(session, case, actor=actor, now=now, reason="kiosk_restarted")
        except (InvalidTransition, DomainError) as e:
            log.warning("recovery: case %s left as it is (%s)", case_id, type(e).__name__)
            continue
        cancelled.append(case_id)
    return cancelled
