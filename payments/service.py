"""The payment service: our Payment rows, their state machine, and the case moving on.

State machine (``PAYMENT_TRANSITIONS``)::

    created -> pending -> succeeded | failed | cancelled | expired
    created -> succeeded | failed | cancelled | expired   (provider answered in one step)
    failed | cancelled | expired -> succeeded             (the provider took the money after
                                                            all: its word wins, staff refund)
    succeeded -> partially_refunded -> ... -> refunded

Refunds come from staff through ``refund_payment`` or from outside the service (the
provider's dashboard, the terminal's own menu, the provider itself): those are found by
``apply_provider_refunds``, from a refund webhook or by reconciliation, and recorded the
same way with the provider as the actor. A refund is known by the provider's refund id, so
none is ever recorded twice, whoever made it and however often it is reported.

Functions take a Session, may flush, never commit: the caller's commit makes a payment
change, the case change, the ticket and their audit rows one unit. The exception is the
start of a payment: the row must be committed *before* the provider is called (so a crash
can never leave a charge we do not know about), hence ``create_payment`` and
``submit_payment`` are two steps and ``start_payment`` runs them in two transactions.

Paid means: payment succeeded -> ``mark_paid`` -> ``issue_ticket``, both idempotent, behind
a row lock on the payment, so a webhook, a poll and the reconciler racing each other (or a
webhook delivered twice) produce exactly one ticket.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kiosk import audit
from kiosk.cases import get_case, lock_case, mark_awaiting_payment, mark_paid
from kiosk.clock import aware
from kiosk.db import transaction
from kiosk.errors import DomainError, InvalidTransition, NotFound
from kiosk.models import Case, CaseStatus, Ticket
from kiosk.tickets import mark_refunded
from payments.models import Payment, PaymentRefund, PaymentStatus, ProviderEventRecord
from payments.provider import (
    EventKind,
    PaymentError,
    PaymentEvent,
    PaymentProvider,
    PaymentRequest,
    ProviderPayment,
    ProviderRefund,
    ProviderStatus,
    ProviderUnavailable,
    RefundNotAllowed,
)

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
_FROM_EVENT = {
    EventKind.PENDING: P.PENDING,
    EventKind.SUCCEEDED: P.SUCCEEDED,
    EventKind.FAILED: P.FAILED,
    EventKind.CANCELLED: P.CANCELLED,
    EventKind.EXPIRED: P.EXPIRED,
}
# A "created" row younger than this may still be waiting for its provider call to return.
CREATED_GRACE = timedelta(seconds=60)
# Closed payments are re-checked this long (a late success is money we must account for).
LATE_SUCCESS_WINDOW = timedelta(days=1)
# Taken payments are re-read for refunds made outside the service for this long after
# they succeeded (reconcile's ``refund_window``); webhooks catch the rest as they happen.
REFUND_WINDOW = timedelta(days=7)
# ... at most this many per background Reconciler run, in turns (the CLI run checks all).
REFUND_BATCH = 50
REFUNDABLE = frozenset({P.SUCCEEDED, P.PARTIALLY_REFUNDED})
# Fault injection for the crash tests (tests/payments/test_pay_sigkill.py), see crash_point.
CRASH_AT_ENV = "KIOSK_TEST_CRASH_AT"
CRASH_POINTS = frozenset({"after_intent_created", "after_succeeded_before_ticket"})


def actor_for(provider: PaymentProvider) -> str:
    return f"payment:{provider.name}"


def crash_point(name: str) -> None:
    """Fault-injection hook, for tests only: if the environment variable
    ``KIOSK_TEST_CRASH_AT`` equals ``name`` (one of ``CRASH_POINTS``), the process kills
    itself with SIGKILL right here: no ``finally``, no rollback, no response, exactly like a
    power cut or the OOM killer. Unset (as in production) it does nothing.

    The points are where a crash is most expensive: ``after_intent_created`` (the provider
    holds a PaymentIntent, on the reader, that our row does not know yet) and
    ``after_succeeded_before_ticket`` (the payment is being recorded as succeeded, the
    ticket not issued yet). Read at call time, never at import, so a test sets it per run.
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


def _lock(session: Session, payment_id: int) -> Payment:
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


def _settle_case(session: Session, payment: Payment, *, actor: str, now: datetime) -> None:
    """A taken payment moves its case on: paid, then its ticket, each exactly once."""
    from kiosk.tickets import issue_ticket

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
    mark_paid(session, case, actor=actor, now=now, payment_ref=payment.provider_ref)
    crash_point("after_succeeded_before_ticket")
    issue_ticket(session, case, actor=actor, now=now)


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
        _settle_case(session, payment, actor=actor, now=now)
    session.flush()
    return payment


# --- starting -------------------------------------------------------------------------------------


def create_payment(
    session: Session,
    case_id: int,
    *,
    provider_name: str,
    actor: str,
    kiosk_id: str = "",
    now: datetime | None = None,
) -> Payment:
    """Step 1 of a payment: the case moves to awaiting_payment and a ``created`` Payment row
    for its fee is written, with a fresh idempotency key. Commit before ``submit_payment``.

    An open payment of the case is returned as it is (a double tap on "pay" is one
    payment). Raises InvalidTransition for fee-free or already paid cases, NotFound.
    """
    now = aware(now)
    case = lock_case(session, case_id)
    for existing in payments_of_case(session, case.id):
        if existing.status in OPEN:
            return existing
        if existing.status in TAKEN:
            raise InvalidTransition(
                "case", case.id, case.status.value, "payment", "the case is already paid"
            )
    mark_awaiting_payment(session, case, actor=actor, now=now)
    public_id = f"pay_{secrets.token_hex(12)}"
    payment = Payment(
        public_id=public_id,
        case_id=case.id,
        amount_yen=case.fee_yen,
        provider=provider_name,
        idempotency_key=f"kiosk-{public_id}",
        status=P.CREATED,
        refunded_yen=0,
        kiosk_id=kiosk_id,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    audit.record(
        session,
        actor,
        "payment.created",
        case_id=case.id,
        detail={"payment": public_id, "amount_yen": payment.amount_yen, "provider": provider_name},
        now=now,
    )
    return payment


def submit_payment(
    session: Session,
    provider: PaymentProvider,
    public_id: str,
    *,
    now: datetime | None = None,
) -> Payment:
    """Step 2: ask the provider to collect a committed ``created`` payment (terminal shows the
    amount / QR appears) and store its ids; usually -> pending.

    ProviderUnavailable and other PaymentErrors: the row is marked failed in ``session``
    (the case stays awaiting_payment: the resident pays at the cash counter or retries)
    and the error is re-raised. Commit the session in both cases (``start_payment`` does).
    """
    payment = _lock(session, get_payment(session, public_id).id)
    if payment.status is not P.CREATED:
        return payment
    actor = actor_for(provider)
    try:
        view = provider.start(request_for(payment))
    except PaymentError as e:
        payment.failure_code = e.code[:64]
        transition_payment(
            session, payment, P.FAILED, actor=actor, now=now, detail={"failure_code": e.code}
        )
        session.flush()
        raise
    crash_point("after_intent_created")
    return apply_provider_state(session, payment, view, actor=actor, now=now)


def start_payment(
    sessions: sessionmaker[Session],
    provider: PaymentProvider,
    case_id: int,
    *,
    actor: str,
    kiosk_id: str = "",
    now: datetime | None = None,
) -> Payment:
    """``create_payment`` and ``submit_payment`` in two committed transactions: what the
    kiosk's "pay" button calls. Returns the payment (pending, or already final). Raises
    ProviderUnavailable (after committing the failed row) -> show the cash-counter screen."""
    with transaction(sessions) as session:
        payment = create_payment(
            session, case_id, provider_name=provider.name, actor=actor, kiosk_id=kiosk_id, now=now
        )
        public_id = payment.public_id
    error: PaymentError | None = None
    with transaction(sessions) as session:
        try:
            payment = submit_payment(session, provider, public_id, now=now)
        except PaymentError as e:
            error = e  # commit the failed row first, then tell the caller
    if error is not None:
        raise error
    return payment


# --- progress: polling, webhooks ------------------------------------------------------------------


def refresh_payment(
    session: Session, provider: PaymentProvider, public_id: str, *, now: datetime | None = None
) -> Payment:
    """The polling fallback: re-read an open payment at the provider and apply it. Closed
    payments are returned without a provider call. Raises ProviderUnavailable."""
    payment = _lock(session, get_payment(session, public_id).id)
    if payment.status not in OPEN or payment.provider_ref is None:
        return payment
    view = provider.status(payment.provider_ref)
    return apply_provider_state(session, payment, view, actor=actor_for(provider), now=now)


def _find_for_event(session: Session, event: PaymentEvent) -> Payment | None:
    if event.provider_ref:
        stmt = select(Payment).where(
            (Payment.provider_ref == event.provider_ref)
            | (Payment.payment_intent_id == event.provider_ref)
        )
        found = session.scalars(stmt).first()
        if found is not None:
            return found
    if event.payment_id:
        return session.scalars(
            select(Payment).where(Payment.public_id == event.payment_id)
        ).one_or_none()
    return None


def _enrich(provider: PaymentProvider, payment: Payment) -> None:
    """Fill in what the receipt and refunds need (method, PaymentIntent) when the event did
    not carry it. Best effort: the payment is recorded even if the provider is unreachable."""
    if payment.method and payment.payment_intent_id or payment.provider_ref is None:
        return
    try:
        view = provider.status(payment.provider_ref)
    except PaymentError:
        return
    payment.method = payment.method or view.method
    payment.payment_intent_id = payment.payment_intent_id or view.payment_intent_id


def record_provider_event(
    session: Session,
    provider: PaymentProvider,
    event: PaymentEvent,
    *,
    now: datetime | None = None,
) -> str:
    """Apply one verified event. Returns the outcome: ``duplicate`` (event id seen before:
    nothing changes), ``ignored``, ``unknown_payment``, ``applied`` or ``stale`` (the event
    is older than what we know; re-read the object and applied that instead).

    Order is never trusted: an event whose move is not legal from our current state makes
    us re-read the object at the provider (``status``) and apply the provider's truth.
    """
    now = aware(now)
    if session.get(ProviderEventRecord, event.event_id) is not None:
        return "duplicate"
    payment = _find_for_event(session, event)
    outcome = "ignored"
    if payment is None:
        outcome = "ignored" if event.kind is EventKind.IGNORED else "unknown_payment"
    elif event.kind is EventKind.REFUNDED:
        payment = _lock(session, payment.id)
        outcome = _refunds_changed(session, provider, payment, event, now=now)
    elif event.kind is not EventKind.IGNORED:
        payment = _lock(session, payment.id)
        actor = actor_for(provider)
        target = _FROM_EVENT.get(event.kind)
        if target is not None and target in PAYMENT_TRANSITIONS[payment.status]:
            if target is P.FAILED:
                payment.failure_code = event.failure_code
            if payment.provider_ref is None and event.provider_ref:
                payment.provider_ref = event.provider_ref
            transition_payment(
                session, payment, target, actor=actor, now=now, detail={"event": event.event_id}
            )
            if target is P.SUCCEEDED:
                _enrich(provider, payment)
                _settle_case(session, payment, actor=actor, now=now)
            outcome = "applied"
        elif target is payment.status:
            outcome = "applied"  # a second event saying the same thing (e.g. reader + PI)
        elif payment.provider_ref is not None:
            view = provider.status(payment.provider_ref)
            apply_provider_state(session, payment, view, actor=actor, now=now)
            outcome = "stale"
    session.add(
        ProviderEventRecord(
            event_id=event.event_id,
            provider=provider.name,
            type=event.raw_type[:64],
            payment_id=payment.id if payment is not None else None,
            outcome=outcome,
            received_at=now,
        )
    )
    session.flush()
    return outcome


def _refunds_changed(
    session: Session,
    provider: PaymentProvider,
    payment: Payment,
    event: PaymentEvent,
    *,
    now: datetime,
) -> str:
    """A refund event: the provider's refunds of ``payment`` are the truth, not the event."""
    if payment.provider_ref is None:
        return "ignored"
    if payment.status not in TAKEN:
        # The refund overtook the payment's own success event: record the payment first.
        view = provider.status(payment.provider_ref)
        apply_provider_state(session, payment, view, actor=actor_for(provider), now=now)
    apply_provider_refunds(session, provider, payment, now=now, event_id=event.event_id)
    return "applied"


def handle_webhook(
    session: Session,
    provider: PaymentProvider,
    payload: bytes,
    signature: str | None,
    *,
    now: datetime | None = None,
) -> str:
    """Verify the raw body (``provider.parse_webhook``) and apply it. Raises
    InvalidSignature before touching the database for a bad, missing or stale signature."""
    event = provider.parse_webhook(payload, signature)
    return record_provider_event(session, provider, event, now=now)


# --- cancelling, refunding ------------------------------------------------------------------------


def cancel_payment(
    session: Session,
    provider: PaymentProvider,
    public_id: str,
    *,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
) -> Payment:
    """The resident cancelled or the kiosk timed out: stop the payment at the provider
    (reader action cancelled / session expired) and record it. If the money was taken
    first, the payment becomes succeeded instead (and the case moves on). The case is not
    cancelled here: the kiosk decides that (``kiosk.tickets.cancel_case``)."""
    now = aware(now)
    payment = _lock(session, get_payment(session, public_id).id)
    if payment.status not in OPEN:
        return payment
    if payment.provider_ref is None:
        # The provider never answered start: nothing to stop there (reconcile re-checks).
        return transition_payment(
            session, payment, P.CANCELLED, actor=actor, now=now, detail={"reason": reason[:64]}
        )
    view = provider.cancel(payment.provider_ref)
    return apply_provider_state(session, payment, view, actor=actor_for(provider), now=now)


def refund_payment(
    session: Session,
    provider: PaymentProvider,
    public_id: str,
    *,
    actor: str,
    reason: str,
    amount_yen: int | None = None,
    now: datetime | None = None,
) -> PaymentRefund:
    """A supervisor gives back ``amount_yen`` (default: all that is left) of a taken payment.

    ``actor`` must be a staff actor and ``reason`` non-empty; both are kept with the refund
    and audited. A full refund moves the case to refunded (its waiting ticket is cancelled).
    Raises RefundNotAllowed, ValueError, ProviderUnavailable (nothing recorded then).
    """
    now = aware(now)
    if not actor.startswith("staff:"):
        raise ValueError("refunds are started by staff (actor 'staff:<id>')")
    if not reason.strip():
        raise ValueError("a refund needs a reason")
    payment = _lock(session, get_payment(session, public_id).id)
    if payment.status not in (P.SUCCEEDED, P.PARTIALLY_REFUNDED):
        raise RefundNotAllowed(f"payment {public_id} is {payment.status.value}")
    left = payment.amount_yen - payment.refunded_yen
    amount = left if amount_yen is None else amount_yen
    if not 0 < amount <= left:
        raise RefundNotAllowed(f"{amount} yen asked back, {left} yen refundable")
    assert payment.provider_ref is not None
    # Stable across a retry of the same step (the count only grows once a refund committed).
    key = f"{payment.idempotency_key}-re{len(payment.refunds) + 1}"
    result = provider.refund(payment.provider_ref, amount, idempotency_key=key, reason=reason)
    refund = PaymentRefund(
        payment_id=payment.id,
        amount_yen=amount,
        reason=reason.strip()[:200],
        actor=audit.check_actor(actor),
        idempotency_key=key,
        refund_ref=result.refund_ref,
        status=result.status,
        created_at=now,
    )
    session.add(refund)
    payment.refunded_yen += amount
    full = payment.refunded_yen == payment.amount_yen
    session.flush()
    transition_payment(
        session,
        payment,
        P.REFUNDED if full else P.PARTIALLY_REFUNDED,
        actor=actor,
        now=now,
        detail={
            "refund_id": refund.id,
            "refund_ref": result.refund_ref,
            "amount_yen": amount,
            "refunded_yen": payment.refunded_yen,
        },
    )
    if full:
        _refund_case(session, payment, actor=actor, now=now)
    session.flush()
    return refund


def _outside_key(refund_ref: str) -> str:
    # Unique like our own keys, so the database refuses a second row for the same refund.
    key = f"provider-{refund_ref}"
    if len(key) > 64:
        key = f"provider-{hashlib.sha256(refund_ref.encode()).hexdigest()[:48]}"
    return key


def apply_provider_refunds(
    session: Session,
    provider: PaymentProvider,
    payment: Payment,
    *,
    now: datetime | None = None,
    event_id: str | None = None,
) -> list[PaymentRefund]:
    """Record the refunds the provider holds for a (locked) taken payment that we do not
    know yet: made in the provider's dashboard, on the terminal's own menu, by the provider
    itself, or by a ``refund_payment`` whose commit was lost. Returns the new rows.

    Each new refund becomes a PaymentRefund with the provider as actor
    (``payment:<provider>``) and its refund id; the payment moves to partially_refunded or
    refunded with an audit row naming that id. A full refund moves the case to refunded
    (its waiting ticket is cancelled); a partial one leaves the case as it is: staff see it
    as the payment's status and refunded amount. Refunds we already hold (by refund id,
    including our own) only get their status brought up to date. Safe to call any number of
    times. Raises ProviderUnavailable (nothing recorded then).
    """
    now = aware(now)
    if payment.provider_ref is None or payment.status not in TAKEN:
        return []
    actor = actor_for(provider)
    rows = session.scalars(select(PaymentRefund).where(PaymentRefund.payment_id == payment.id))
    held = {r.refund_ref: r for r in rows if r.refund_ref}
    new: list[PaymentRefund] = []
    for seen in provider.refunds(payment.provider_ref):
        known = held.get(seen.refund_ref)
        if known is not None:
            _update_refund_status(session, payment, known, seen, actor=actor, now=now)
        elif seen.gives_money_back:
            refund = _record_outside_refund(
                session, payment, seen, actor=actor, now=now, event_id=event_id
            )
            if refund is not None:
                new.append(refund)
    session.flush()
    return new


def _update_refund_status(
    session: Session,
    payment: Payment,
    refund: PaymentRefund,
    seen: ProviderRefund,
    *,
    actor: str,
    now: datetime,
) -> None:
    if refund.status == seen.status:
        return
    audit.record(
        session,
        actor,
        "payment.refund_status",
        case_id=payment.case_id,
        detail={
            "payment": payment.public_id,
            "refund_ref": seen.refund_ref,
            "from": refund.status,
            "to": seen.status,
        },
        now=now,
    )
    if not seen.gives_money_back:
        # The state machine does not go back: staff must settle it with the resident.
        log.warning(
            "refund %s of payment %s is %s", seen.refund_ref, payment.public_id, seen.status
        )
    refund.status = seen.status[:16]


def _record_outside_refund(
    session: Session,
    payment: Payment,
    seen: ProviderRefund,
    *,
    actor: str,
    now: datetime,
    event_id: str | None,
) -> PaymentRefund | None:
    left = payment.amount_yen - payment.refunded_yen
    if not 0 < seen.amount_yen <= left:
        # Our books and the provider's disagree: never guess, show it to staff.
        audit.record(
            session,
            actor,
            "payment.refund_mismatch",
            case_id=payment.case_id,
            detail={
                "payment": payment.public_id,
                "refund_ref": seen.refund_ref,
                "amount_yen": seen.amount_yen,
                "refundable_yen": left,
            },
            now=now,
        )
        log.error("refund %s does not fit payment %s", seen.refund_ref, payment.public_id)
        return None
    refund = PaymentRefund(
        amount_yen=seen.amount_yen,
        reason="refunded at the provider, outside this service",
        actor=actor,
        idempotency_key=_outside_key(seen.refund_ref),
        refund_ref=seen.refund_ref,
        status=seen.status[:16],
        created_at=now,
    )
    # Through the collection, so refund_payment's count of refunds (its key) stays right.
    payment.refunds.append(refund)
    payment.refunded_yen += seen.amount_yen
    full = payment.refunded_yen == payment.amount_yen
    session.flush()
    detail: dict[str, Any] = {
        "refund_id": refund.id,
        "refund_ref": seen.refund_ref,
        "amount_yen": seen.amount_yen,
        "refunded_yen": payment.refunded_yen,
        "source": "provider",
    }
    if event_id:
        detail["event"] = event_id
    transition_payment(
        session,
        payment,
        P.REFUNDED if full else P.PARTIALLY_REFUNDED,
        actor=actor,
        now=now,
        detail=detail,
    )
    log.warning(
        "payment %s: %s yen refunded outside the service (%s)",
        payment.public_id,
        seen.amount_yen,
        seen.refund_ref,
    )
    if full:
        _refund_case(session, payment, actor=actor, now=now)
    return refund


def _refund_case(session: Session, payment: Payment, *, actor: str, now: datetime) -> None:
    case = get_case(session, payment.case_id)
    try:
        mark_refunded(session, case, actor=actor, now=now)
    except InvalidTransition:
        # A finished (done) case keeps its state; the refund is still recorded.
        log.info("case %s stays %s after a full refund", case.id, case.status.value)


# --- reconciliation -------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    """What one reconciliation run looked at and changed (payment public ids)."""

    checked: int = 0
    repaired: list[str] = field(default_factory=list)
    tickets_issued: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    #: payments in which refunds made outside the service were found and recorded
    refunds_found: list[str] = field(default_factory=list)
    #: id of the last payment whose refunds were read when the batch limit stopped the
    #: pass (the next run goes on after it); 0 when the pass reached the end
    refund_cursor: int = 0

    def line(self) -> str:
        return (
            f"reconcile: checked={self.checked} repaired={len(self.repaired)} "
            f"tickets_issued={len(self.tickets_issued)} unreachable={len(self.unreachable)} "
            f"refunds_found={len(self.refunds_found)}"
        )


def _reconcile_one(
    session: Session,
    provider: PaymentProvider,
    payment: Payment,
    *,
    now: datetime,
    timeout: timedelta,
    report: ReconcileReport,
) -> None:
    actor = actor_for(provider)
    before = payment.status
    payment = _lock(session, payment.id)
    if payment.status is P.CREATED:
        if now - payment.created_at < CREATED_GRACE:
            return
        # A crash between commit and the provider's answer: find what start created.
        view = provider.recover(request_for(payment))
        if view.status is ProviderStatus.PENDING:
            view = provider.cancel(view.provider_ref)
        apply_provider_state(session, payment, view, actor=actor, now=now)
    elif payment.provider_ref is not None:
        view = provider.status(payment.provider_ref)
        if view.status is ProviderStatus.PENDING and now - payment.created_at >= timeout:
            view = provider.cancel(payment.provider_ref)
        apply_provider_state(session, payment, view, actor=actor, now=now)
    if payment.status is not before:
        report.repaired.append(payment.public_id)


def reconcile(
    session: Session,
    provider: PaymentProvider,
    *,
    timeout_s: int = 120,
    refund_window: timedelta | None = REFUND_WINDOW,
    refund_limit: int | None = None,
    refund_after: int = 0,
    now: datetime | None = None,
) -> ReconcileReport:
    """Find this provider's payments whose provider state differs from ours and repair them:
    open payments are re-read (abandoned ones past ``timeout_s`` cancelled), ``created``
    rows left by a crash are recovered through the idempotency key, recently closed ones are
    checked for a late success, and taken payments whose case has no ticket get it.

    Refunds made outside the service (a missed refund webhook, or the simulated terminal,
    which sends none) are found by re-reading the refunds of the payments that can still be
    refunded (succeeded or partially refunded) and succeeded within ``refund_window``: one
    provider request per such payment (two for Checkout). ``None`` skips this pass;
    ``refund_limit`` reads at most that many payments, those with an id above
    ``refund_after`` (``report.refund_cursor`` says where the next run goes on).

    Per-payment ProviderUnavailable is reported, not raised. Commit afterwards.
    """
    now = aware(now)
    report = ReconcileReport()
    timeout = timedelta(seconds=timeout_s)
    stmt = (
        select(Payment)
        .where(
            Payment.provider == provider.name,
            Payment.status.in_([P.CREATED, P.PENDING])
            | (
                Payment.status.in_([P.FAILED, P.CANCELLED, P.EXPIRED])
                & (Payment.updated_at >= now - LATE_SUCCESS_WINDOW)
            ),
        )
        .order_by(Payment.id)
    )
    for payment in list(session.scalars(stmt)):
        report.checked += 1
        try:
            with session.begin_nested():
                _reconcile_one(session, provider, payment, now=now, timeout=timeout, report=report)
        except PaymentError:
            report.unreachable.append(payment.public_id)
    # Taken but not queued: the crash fell between "succeeded" and the ticket.
    orphans = (
        select(Payment)
        .join(Case, Case.id == Payment.case_id)
        .where(
            Payment.provider == provider.name,
            Payment.status == P.SUCCEEDED,
            Case.status.in_([CaseStatus.AWAITING_PAYMENT, CaseStatus.PAID]),
            ~select(Ticket.id).where(Ticket.case_id == Payment.case_id).exists(),
        )
    )
    for payment in list(session.scalars(orphans)):
        report.checked += 1
        payment = _lock(session, payment.id)
        try:
            with session.begin_nested():
                _settle_case(session, payment, actor=actor_for(provider), now=now)
        except DomainError:
            continue
        if session.scalars(select(Ticket.id).where(Ticket.case_id == payment.case_id)).first():
            report.tickets_issued.append(payment.public_id)
    if refund_window is not None:
        _reconcile_refunds(
            session,
            provider,
            now=now,
            window=refund_window,
            limit=refund_limit,
            after=refund_after,
            report=report,
        )
    session.flush()
    return report


def _reconcile_refunds(
    session: Session,
    provider: PaymentProvider,
    *,
    now: datetime,
    window: timedelta,
    limit: int | None,
    after: int,
    report: ReconcileReport,
) -> None:
    refundable = (
        select(Payment)
        .where(
            Payment.provider == provider.name,
            Payment.status.in_(REFUNDABLE),
            Payment.succeeded_at >= now - window,
            Payment.id > after,
        )
        .order_by(Payment.id)
        .limit(limit)
    )
    batch = list(session.scalars(refundable))
    if limit is not None and len(batch) == limit:
        report.refund_cursor = batch[-1].id
    for payment in batch:
        report.checked += 1
        try:
            with session.begin_nested():
                payment = _lock(session, payment.id)
                if apply_provider_refunds(session, provider, payment, now=now):
                    report.refunds_found.append(payment.public_id)
        except PaymentError:
            report.unreachable.append(payment.public_id)


class Reconciler:
    """Runs ``reconcile`` once at start-up and then every ``interval_s`` in its own thread
    (with its own sessions). Each run reads the refunds of at most ``refund_batch`` recent
    taken payments, in turns, so the provider requests per run stay bounded however many
    payments the window holds. ``stop`` ends it; errors are logged, never fatal."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: PaymentProvider,
        *,
        interval_s: float,
        timeout_s: int,
        refund_batch: int = REFUND_BATCH,
        refund_window: timedelta = REFUND_WINDOW,
        on_report: Callable[[ReconcileReport], None] | None = None,
    ) -> None:
        self.sessions, self.provider = sessions, provider
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.refund_batch, self.refund_window = refund_batch, refund_window
        self.on_report = on_report
        self._refund_cursor = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="payments-reconciler", daemon=True)

    def run_once(self) -> ReconcileReport:
        with transaction(self.sessions) as session:
            report = reconcile(
                session,
                self.provider,
                timeout_s=self.timeout_s,
                refund_window=self.refund_window,
                refund_limit=self.refund_batch,
                refund_after=self._refund_cursor,
            )
        self._refund_cursor = report.refund_cursor
        if report.repaired or report.tickets_issued or report.refunds_found:
            log.warning(report.line())
        if self.on_report:
            self.on_report(report)
        return report

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a bad run must not kill the thread; the next one retries
                log.exception("payment reconciliation failed")
            self._stop.wait(self.interval_s)

    def start(self) -> Reconciler:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)


__all__ = [
    "PAYMENT_TRANSITIONS",
    "ProviderUnavailable",
    "ReconcileReport",
    "Reconciler",
    "apply_provider_refunds",
    "apply_provider_state",
    "cancel_payment",
    "create_payment",
    "get_payment",
    "handle_webhook",
    "payments_of_case",
    "reconcile",
    "record_provider_event",
    "refresh_payment",
    "refund_payment",
    "start_payment",
    "submit_payment",
    "transition_payment",
]
