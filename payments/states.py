"""Payment rows and their state machine: reading and locking them, the one function
that moves a payment, applying the provider's view of it, and the case moving on once
the money was taken. The modules around it build on this one: ``payments.collect``
(taking a fee), ``payments.events`` (webhooks), ``payments.refunds`` and
``payments.reconcile``.

State machine (``PAYMENT_TRANSITIONS``)::

    created -> pending -> succeeded | failed | cancelled | expired
    created -> succeeded | failed | cancelled | expired   (provider answered in one step)
    failed | cancelled | expired -> succeeded             (the provider took the money after
                                                            all: its word wins, staff refund)
    succeeded -> partially_refunded -> ... -> refunded

Functions take a Session, may flush, never commit: the caller's commit makes a payment
change, the case change, the ticket and their audit rows one unit.

Paid means: payment succeeded -> ``mark_paid`` -> ``issue_ticket``, both idempotent, behind
a row lock on the payment, so a webhook, a poll and the reconciler racing each other (or a
webhook delivered twice) produce exactly one ticket. Entering succeeded (once, by the state
machine) also books the payment in the day's takings (``payments.ledger``) and, for money
taken at a counter, settles what the case owed there (``kiosk.counter_cases.settle_due``).
Lock order: the payment row first, then the domain's rows in the domain's order
(``kiosk.tickets``: ticket, then case).
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.cases import lock_case, lock_case_state, mark_paid
from kiosk.clock import aware
from kiosk.counter_cases import settle_due
from kiosk.errors import InvalidTransition, NotFound
from kiosk.models import CaseStatus
from kiosk.tickets import issue_ticket
from payments.ledger import book_payment
from payments.models import Payment, PaymentStatus
from payments.provider import PaymentProvider, PaymentRequest, ProviderPayment, ProviderStatus

log = logging.getLogger(__name__)

P = PaymentStatus
PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    P.CREATED: frozenset({P.PENDING, P.SUCCEEDED, P.FAILED, P.CANCELLED, P.EXPIRED}),
    P.PENDING: frozenset({P.SUCCEEDED, P.FAILED, P.CANCELLED, P.EXPIRED}),
    P.FAILED: frozenset({P.SUCCEEDED}),
    P.CANCELLED: frozenset({P.SUCCEEDED}),
    P.EXPIRED: frozenset({P.SUCCEEDED}),
    P.SUCCEEDED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
    P.PARTIALLY_REFUNDED: frozenset({P.PARTIALLY_REFUNDED, P.REFUNDED}),
    P.REFUNDED: frozenset(),
}
OPEN = frozenset({P.CREATED, P.PENDING})
TAKEN = frozenset({P.SUCCEEDED, P.PARTIALLY_REFUNDED, P.REFUNDED})
_FROM_PROVIDER = {
    ProviderStatus.PENDING: P.PENDING,
    ProviderStatus.SUCCEEDED: P.SUCCEEDED,
    ProviderStatus.FAILED: P.FAILED,
    ProviderStatus.CANCELLED: P.CANCELLED,
    ProviderStatus.EXPIRED: P.EXPIRED,
}
# Taken and not all given back yet: what a refund can start from.
REFUNDABLE = frozenset({P.SUCCEEDED, P.PARTIALLY_REFUNDED})
# Fault injection for the crash tests (tests/payments/test_pay_sigkill.py), see crash_point.
CRASH_AT_ENV = "KIOSK_TEST_CRASH_AT"
CRASH_POINTS = frozenset(
    {
        # each transition of a resident's visit (the crash matrix of tests/security)
        "after_case_opened",
        "after_case_confirmed",
        "after_payment_created",
        "after_intent_created",
        "after_payment_pending",
        "after_succeeded_before_ticket",
        "after_ticket_issued",
    }
)


def actor_for(provider: PaymentProvider) -> str:
    """The audit actor of what the provider reported (``payment:<name>``)."""
    return f"payment:{provider.name}"


def crash_point(name: str) -> None:
    """Fault-injection hook, for tests only: if the environment variable
    ``KIOSK_TEST_CRASH_AT`` equals ``name`` (one of ``CRASH_POINTS``), the process kills
    itself with SIGKILL right here: no ``finally``, no rollback, no response, exactly like a
    power cut or the OOM killer. Unset (as in production) it does nothing.

    The points are where a crash is most expensive: ``after_intent_created`` (the provider
    holds a PaymentIntent, on the reader, that our row does not know yet) and
    ``after_succeeded_before_ticket`` (the payment is being recorded as succeeded, the
    ticket not issued yet); and right after each other committed transition of a visit
    (``after_case_opened``, ``after_case_confirmed``, ``after_payment_created``,
    ``after_payment_pending``, ``after_ticket_issued`` for a fee-free case), where the
    resident's visit dies with the process. Read at call time, never at import, so a test
    sets it per run.
    """
    if name not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    if os.environ.get(CRASH_AT_ENV) == name:
        log.critical("%s=%s: killing this process (fault injection)", CRASH_AT_ENV, name)
        os.kill(os.getpid(), signal.SIGKILL)


# --- reading -------------------------------------------------------------------------------


def get_payment(session: Session, public_id: str) -> Payment:
    """The payment with our public id; NotFound if absent."""
    payment = session.scalars(select(Payment).where(Payment.public_id == public_id)).one_or_none()
    if payment is None:
        raise NotFound(f"payment {public_id}")
    return payment


def lock_payment(session: Session, payment_id: int) -> Payment:
    """The payment row-locked with fresh state (first in the lock order)."""
    stmt = (
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one()


def payments_of_case(session: Session, case_id: int) -> list[Payment]:
    """Every payment attempt of a case, oldest first."""
    stmt = select(Payment).where(Payment.case_id == case_id).order_by(Payment.id)
    return list(session.scalars(stmt))


def request_for(payment: Payment) -> PaymentRequest:
    """What the provider is asked for this payment (the same every time: idempotent)."""
    return PaymentRequest(
        payment_id=payment.public_id,
        amount_yen=payment.amount_yen,
        reference=f"case-{payment.case_id}",
        idempotency_key=payment.idempotency_key,
        description=f"case-{payment.case_id}",
        language=payment.case.language,
    )


# --- the state machine ------------------------------------------------------------------------


def transition_payment(
    session: Session,
    payment: Payment,
    target: PaymentStatus,
    *,
    actor: str,
    now: datetime | None = None,
    detail: dict[str, Any] | None = None,
) -> Payment:
    """Move ``payment`` to ``target`` with its audit row; InvalidTransition if illegal. The
    only place that assigns ``Payment.status``."""
    now = aware(now)
    if target not in PAYMENT_TRANSITIONS[payment.status]:
        raise InvalidTransition("payment", payment.id, payment.status.value, target.value)
    previous = payment.status
    payment.status = target
    payment.updated_at = now
    if target is P.SUCCEEDED:
        payment.succeeded_at = now
        # The day's takings: booked once, when the money is taken (``payments.ledger``);
        # money taken at a counter settles what was due there, once.
        session.flush()
        book_payment(session, payment, now=now)
        if payment.counter_code is not None:
            settle_due(
                session,
                payment.case_id,
                paid_yen=payment.amount_yen,
                actor=actor,
                now=now,
                payment=payment.public_id,
            )
    audit.record(
        session,
        actor,
        f"payment.{target.value}",
        case_id=payment.case_id,
        detail={
            "payment": payment.public_id,
            "from": previous.value,
            "to": target.value,
            "provider": payment.provider,
            "provider_ref": payment.provider_ref,
            **(detail or {}),
        },
        now=now,
    )
    log.info("payment %s: %s -> %s", payment.public_id, previous.value, target.value)
    return payment


def settle_case(session: Session, payment: Payment, *, actor: str, now: datetime) -> None:
    """A taken payment moves its case on: paid, then its ticket, each exactly once. A
    payment taken at a counter does not (the case has its ticket and is at the counter;
    the money settled what was due there when it was taken: ``transition_payment``)."""
    case = lock_case(session, payment.case_id)
    if case.status in (
        CaseStatus.CANCELLED,
        CaseStatus.REFUNDED,
        CaseStatus.DRAFT,
        CaseStatus.CONFIRMED,
    ):
        # Money arrived for a case that gave up waiting: keep it visible for a staff refund.
        audit.record(
            session,
            actor,
            "payment.needs_refund",
            case_id=case.id,
            detail={"payment": payment.public_id, "case_status": case.status.value},
            now=now,
        )
        log.warning(
            "payment %s succeeded for %s case %s: refund it",
            payment.public_id,
            case.status.value,
            case.id,
        )
        return
    if payment.counter_code is not None:
        return  # transition_payment settled the due when the money was taken
    mark_paid(session, case, actor=actor, now=now, payment_ref=payment.provider_ref)
    crash_point("after_succeeded_before_ticket")
    issue_ticket(session, case, actor=actor, now=now)


def held_by_case(session: Session, case_id: int) -> int:
    """The money a case's payments hold now: taken amounts less what was given back."""
    return sum(
        p.amount_yen - p.refunded_yen
        for p in payments_of_case(session, case_id)
        if p.status in TAKEN
    )


def count_refund_against_due(
    session: Session, payment: Payment, amount_yen: int, *, actor: str, now: datetime
) -> bool:
    """A refund of ``amount_yen`` was just recorded for ``payment``: money due back to the
    resident (an amendment or an exemption lowered the fee) is settled by it first. Returns
    whether the case should now move to refunded: it held money for a fee, and holds none
    (a refund that only gave a difference back leaves the case as it is)."""
    case = lock_case_state(session, payment.case_id)
    if case.due_yen < 0:
        case = settle_due(
            session,
            case.id,
            refunded_yen=min(amount_yen, -case.due_yen),
            actor=actor,
            now=now,
            payment=payment.public_id,
        )
    return case.fee_yen > 0 and held_by_case(session, case.id) == 0


def apply_provider_state(
    session: Session,
    payment: Payment,
    view: ProviderPayment,
    *,
    actor: str,
    now: datetime | None = None,
) -> Payment:
    """Bring our (locked) row in line with the provider's ``view``: store ids, move the
    state if the move is legal, settle the case when the money was taken. Views that would
    move backwards (a stale poll) change nothing."""
    now = aware(now)
    payment.provider_ref = payment.provider_ref or view.provider_ref
    payment.payment_intent_id = view.payment_intent_id or payment.payment_intent_id
    payment.display_url = view.display_url or payment.display_url
    payment.method = view.method or payment.method
    target = _FROM_PROVIDER[view.status]
    if target is not payment.status and target in PAYMENT_TRANSITIONS[payment.status]:
        if target is P.FAILED:
            payment.failure_code = view.failure_code
        transition_payment(
            session,
            payment,
            target,
            actor=actor,
            now=now,
            detail={"failure_code": view.failure_code} if view.failure_code else None,
        )
    if payment.status is P.SUCCEEDED:
        settle_case(session, payment, actor=actor, now=now)
    session.flush()
    return payment
